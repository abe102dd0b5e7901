// A json-server 0.17 middleware for herd's integration tests and examples
// (`json-server db.json --middlewares json_server_mw.js`). CommonJS, Node's
// own modules only. Three jobs, besides two requests of the harness's own that
// are not logged: GET /__herd_ping -> {"pid"} (readiness) and POST
// /__herd_flush (answers once db.json on disk holds every change so far):
//
// 1. Request log: when HERD_JS_LOG names a file, appends one JSON line per
//    request just before its response goes out (so every request a client has
//    had an answer to is already in the file):
//      {"seq", "method", "url", "path", "headers": {lower-case name: value},
//       "body": parsed request body or null, "status", "response": the
//       response body (parsed JSON when it is JSON, else text; first 4 KB),
//       "token_user": email the Bearer token was issued to, or null}
// 2. POST /login {email, password}: 200 {"accessToken", "user": {id, email}}
//    when a user with that email and password is in the "users" collection,
//    else 401 {"error"}. Tokens are "tok-<n>-<random hex>", kept in memory.
// 3. HERD_JS_AUTH="notes,orders" (comma separated collection names): requests
//    to those collections need "Authorization: Bearer <a token from /login>",
//    else 401 {"error": "..."}.
'use strict';

const fs = require('fs');
const crypto = require('crypto');

const logPath = process.env.HERD_JS_LOG || '';
const guarded = new Set((process.env.HERD_JS_AUTH || '').split(',').map(s => s.trim())
  .filter(Boolean));
const tokens = new Map(); // token -> email
let seq = 0;
let issued = 0;

function bearer(req) {
  const h = req.headers.authorization || '';
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : null;
}

function firstSegment(path) {
  return path.split('/').filter(Boolean)[0] || '';
}

function parseOut(text, type) {
  if (text === '') return null;
  if (/json/.test(type || '')) {
    try { return JSON.parse(text); } catch (e) { /* fall through */ }
  }
  return text.length > 4096 ? text.slice(0, 4096) : text;
}

module.exports = function herdMiddleware(req, res, next) {
  // The harness's readiness probe: answered here, never logged.
  if (req.method === 'GET' && req.path === '/__herd_ping') {
    res.status(200).json({ pid: process.pid });
    return;
  }
  // json-server writes db.json asynchronously (lowdb's FileAsync, steno),
  // after it has answered. This write is queued behind those, so when it is
  // answered db.json holds every change made before. Not logged either.
  if (req.method === 'POST' && req.path === '/__herd_flush') {
    Promise.resolve(req.app.db.write()).then(
      () => res.status(200).json({ flushed: true }),
      e => res.status(500).json({ error: String(e) }));
    return;
  }
  const rec = {
    seq: ++seq,
    method: req.method,
    url: req.originalUrl || req.url,
    path: req.path,
    headers: Object.assign({}, req.headers),
    // a copy: json-server adds the new id to req.body when it creates
    body: req.body && Object.keys(req.body).length ? JSON.parse(JSON.stringify(req.body)) : null,
    status: 0,
    response: null,
    token_user: null,
  };
  const tok = bearer(req);
  if (tok && tokens.has(tok)) rec.token_user = tokens.get(tok);

  if (logPath) {
    const chunks = [];
    const write = res.write;
    const end = res.end;
    res.write = function (chunk, enc, cb) {
      if (chunk != null && typeof chunk !== 'function')
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), typeof enc === 'string' ? enc : 'utf8'));
      return write.apply(this, arguments);
    };
    res.end = function (chunk, enc, cb) {
      if (chunk != null && typeof chunk !== 'function')
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), typeof enc === 'string' ? enc : 'utf8'));
      rec.status = res.statusCode;
      const text = Buffer.concat(chunks).toString('utf8');
      rec.response = parseOut(text, res.getHeader('content-type'));
      try {
        fs.appendFileSync(logPath, JSON.stringify(rec) + '\n');
      } catch (e) {
        process.stderr.write('json_server_mw: cannot append to ' + logPath + ': ' + e + '\n');
      }
      return end.apply(this, arguments);
    };
  }

  if (req.method === 'POST' && req.path === '/login') {
    const body = req.body || {};
    const db = req.app.db;
    const user = db && db.get('users').find(u => u.email === body.email && u.password === body.password).value();
    if (!user) {
      res.status(401).json({ error: 'unknown email or wrong password' });
      return;
    }
    const token = 'tok-' + (++issued) + '-' + crypto.randomBytes(8).toString('hex');
    tokens.set(token, user.email);
    res.status(200).json({ accessToken: token, user: { id: user.id, email: user.email } });
    return;
  }

  if (guarded.has(firstSegment(req.path))) {
    if (!tok) {
      res.status(401).json({ error: 'missing Bearer token' });
      return;
    }
    if (!tokens.has(tok)) {
      res.status(401).json({ error: 'unknown token' });
      return;
    }
  }
  next();
};
