/*
 * The agent's check of its controller's TLS certificate, done once by
 * herd's own mbedTLS handshake so that a refusal can say why: NNG, which
 * enforces the same rules on every connection (net_tls_config with a server
 * name), only ever reports that no connection came up. The rules: the chain
 * ends at the CA of --tls-ca, the certificate names the expected server
 * name (a DNS subjectAltName, or the subject's CN when it has none: mbedTLS
 * matches an address against DNS names too), and when it has an
 * extendedKeyUsage, that includes serverAuth.
 */
#ifndef HERD_NET_TLSCHECK_H
#define HERD_NET_TLSCHECK_H

#include <stddef.h>

#include "net/net.h"

/*
 * Connects to the tls+tcp:// address url (waiting at most ms for the
 * connection and the handshake), presents f's certificate, and checks the
 * server's certificate for server name name. Returns HERD_OK when it passes;
 * HERD_EAUTH when it is refused, with the reason in err (naming the expected
 * and the presented names for a name mismatch); HERD_ENET when no handshake
 * could be made (nobody listening yet, a peer that hung up: nothing known),
 * with the reason in err; HERD_EINVAL when f's files cannot be used.
 */
int tlscheck_controller(const char *url, const net_tls_files *f, const char *name, int ms, char *err,
                        size_t errlen);

#endif
