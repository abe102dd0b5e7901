/*
 * `herd results`: list, show, compare, baseline set, export. Each
 * subcommand parses its flags, resolves run references ("latest",
 * "previous", an id or an unambiguous prefix of one) and calls the store,
 * compare or export modules.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "controller/cli_results.h"
#include "controller/compare.h"
#include "controller/export.h"
#include "controller/report.h"
#include "controller/run.h"
#include "controller/store.h"

/* Exit code of `herd results compare` when the candidate regressed: the
 * same as failed thresholds, since a CI job treats both alike. */
#define EXIT_REGRESSION 99
/* A run reference that names no run. */
#define EXIT_NO_RUN 1

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: herd results list [--plan NAME] [--status STATUS] [--label KEY=VALUE] [--limit N]\n"
	        "       herd results show RUN\n"
	        "       herd results compare [BASE] CAND [--baseline marked|last-passed]\n"
	        "                            [--format text|markdown|json] [--min-effect 5%%]\n"
	        "                            [--alpha 0.01]\n"
	        "       herd results baseline set RUN\n"
	        "       herd results export RUN --format json|csv|junit [-o FILE]\n"
	        "       herd report RUN [-o FILE.html]\n"
	        "   (every subcommand takes --db FILE; RUN is an id, a unique prefix of one,\n"
	        "    'latest' or 'previous')\n");
}

typedef struct args {
	const char *db, *plan, *status, *format, *out, *baseline, *label;
	double min_effect, alpha;
	long limit;
	int nargs;
	char **argv;
} args;

/* "5%", "0.05" or "5" (percent when above 1). */
static int parse_fraction(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	int pct = *end == '%';
	if (end == s || errno != 0 || (pct ? end[1] != '\0' : *end != '\0') || v < 0)
		return -1;
	*out = pct || v > 1 ? v / 100.0 : v;
	return *out < 1 ? 0 : -1;
}

static int parse_args(int argc, char **argv, args *a)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "plan", required_argument, NULL, 'p' },
		{ "status", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "min-effect", required_argument, NULL, 'e' },
		{ "alpha", required_argument, NULL, 'a' },
		{ "label", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	memset(a, 0, sizeof(*a));
	a->db = getenv("HERD_DB") ? getenv("HERD_DB") : "herd.db";
	a->min_effect = 0.05;
	a->alpha = 0.01;
	/* GNU getopt moves operands behind the options, so flags may come anywhere. */
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'd': a->db = optarg; break;
		case 'p': a->plan = optarg; break;
		case 's': a->status = optarg; break;
		case 'f': a->format = optarg; break;
		case 'o': a->out = optarg; break;
		case 'b': a->baseline = optarg; break;
		case 'l': a->label = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'n': {
			char *end;
			a->limit = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || a->limit < 1) {
				fprintf(stderr, "herd results: --limit: expected a positive number, got '%s'\n",
				        optarg);
				return -1;
			}
			break;
		}
		case 'e':
			if (parse_fraction(optarg, &a->min_effect) != 0) {
				fprintf(stderr, "herd results: --min-effect: expected a share such as 5%% or "
				                "0.05, got '%s'\n", optarg);
				return -1;
			}
			break;
		case 'a':
			if (parse_fraction(optarg, &a->alpha) != 0 || a->alpha <= 0) {
				fprintf(stderr, "herd results: --alpha: expected a level such as 0.01, got '%s'\n",
				        optarg);
				return -1;
			}
			break;
		default: usage(stderr); return -1;
		}
	}
	a->nargs = argc - optind;
	a->argv = argv + optind;
	return 0;
}

/* Resolves a run reference; prints why not and returns the exit code, or 0. */
static int resolve(store *st, const char *db, const char *ref, char *id, size_t len)
{
	int rv = store_resolve_run(st, ref, id, len);
	if (rv == HERD_OK)
		return 0;
	fprintf(stderr, "herd: %s (in %s)\n", store_errmsg(st), db);
	return rv == HERD_ESTORE ? EXIT_SETUP : EXIT_NO_RUN;
}

static int cmd_compare(store *st, const args *a)
{
	char base[64], cand[64];
	cmp_format fmt = CMP_TEXT;
	int rc;
	if (a->format != NULL) {
		if (strcmp(a->format, "text") == 0)
			fmt = CMP_TEXT;
		else if (strcmp(a->format, "markdown") == 0)
			fmt = CMP_MARKDOWN;
		else if (strcmp(a->format, "json") == 0)
			fmt = CMP_JSON;
		else {
			fprintf(stderr, "herd results compare: --format: expected text, markdown or json, got "
			                "'%s'\n", a->format);
			return EXIT_INVALID;
		}
	}
	if (a->nargs == 3) {
		if (a->baseline != NULL) {
			fprintf(stderr, "herd results compare: give BASE or --baseline, not both\n");
			return EXIT_INVALID;
		}
		if ((rc = resolve(st, a->db, a->argv[1], base, sizeof(base))) != 0 ||
		    (rc = resolve(st, a->db, a->argv[2], cand, sizeof(cand))) != 0)
			return rc;
	} else if (a->nargs == 2) {
		store_baseline how = STORE_BASELINE_MARKED;
		if (a->baseline != NULL && strcmp(a->baseline, "last-passed") == 0)
			how = STORE_BASELINE_LAST_PASSED;
		else if (a->baseline != NULL && strcmp(a->baseline, "marked") != 0) {
			fprintf(stderr, "herd results compare: --baseline: expected marked or last-passed, "
			                "got '%s'\n", a->baseline);
			return EXIT_INVALID;
		}
		if ((rc = resolve(st, a->db, a->argv[1], cand, sizeof(cand))) != 0)
			return rc;
		if (store_find_baseline(st, cand, how, base, sizeof(base)) != HERD_OK) {
			fprintf(stderr, "herd: %s\n", store_errmsg(st));
			return EXIT_NO_RUN;
		}
	} else {
		usage(stderr);
		return EXIT_INVALID;
	}
	cmp_opts o = { .min_effect = a->min_effect, .alpha = a->alpha, .min_intervals = 5 };
	cmp_report *r;
	char err[512];
	int rv = cmp_runs(st, base, cand, &o, &r, err, sizeof(err));
	if (rv != HERD_OK) {
		fprintf(stderr, "herd: comparing %s with %s: %s\n", cand, base, err);
		return rv == HERD_ENOTFOUND ? EXIT_NO_RUN : EXIT_SETUP;
	}
	rv = cmp_print(r, base, cand, &o, fmt, stdout);
	int regressed = r->count[CMP_REGRESSION] > 0;
	cmp_report_free(r);
	if (rv != HERD_OK || fflush(stdout) != 0) {
		fprintf(stderr, "herd: writing the comparison failed\n");
		return EXIT_SETUP;
	}
	return regressed ? EXIT_REGRESSION : 0;
}

static int cmd_export(store *st, const args *a)
{
	char id[64], err[512];
	export_format fmt;
	int rc;
	if (a->nargs != 2 || a->format == NULL) {
		fprintf(stderr, "herd results export: expected RUN --format json|csv|junit [-o FILE]\n");
		return EXIT_INVALID;
	}
	if (export_format_parse(a->format, &fmt) != 0) {
		fprintf(stderr, "herd results export: --format: expected json, csv or junit, got '%s'\n",
		        a->format);
		return EXIT_INVALID;
	}
	if ((rc = resolve(st, a->db, a->argv[1], id, sizeof(id))) != 0)
		return rc;
	FILE *out = stdout;
	if (a->out != NULL && (out = fopen(a->out, "w")) == NULL) {
		fprintf(stderr, "herd: cannot write %s: %s\n", a->out, strerror(errno));
		return EXIT_SETUP;
	}
	int rv = export_run(st, id, fmt, out, err, sizeof(err));
	if (out != stdout && fclose(out) != 0 && rv == HERD_OK) {
		rv = HERD_EIO;
		snprintf(err, sizeof(err), "closing %s: %s", a->out, strerror(errno));
	}
	if (rv != HERD_OK) {
		fprintf(stderr, "herd: exporting %s: %s\n", id, err);
		return rv == HERD_ENOTFOUND ? EXIT_NO_RUN : EXIT_SETUP;
	}
	return 0;
}

int cli_results(int argc, char **argv)
{
	args a;
	store *st;
	char err[512], id[64];
	int rv, rc = 0;
	if (parse_args(argc, argv, &a) != 0)
		return EXIT_INVALID;
	const char *sub = a.nargs > 0 ? a.argv[0] : "";
	int known = (strcmp(sub, "list") == 0 && a.nargs == 1) ||
	            (strcmp(sub, "show") == 0 && a.nargs == 2) || strcmp(sub, "compare") == 0 ||
	            strcmp(sub, "export") == 0 ||
	            (strcmp(sub, "baseline") == 0 && a.nargs == 3 && strcmp(a.argv[1], "set") == 0);
	if (!known) {
		usage(stderr);
		return EXIT_INVALID;
	}
	if ((rv = store_open(a.db, &st, err, sizeof(err))) != HERD_OK) {
		fprintf(stderr, "herd: results store %s: %s\n", a.db, err);
		return EXIT_SETUP;
	}
	if (strcmp(sub, "list") == 0) {
		store_list_filter f = { a.plan, a.status, a.limit, a.label };
		if (store_list_runs(st, &f, stdout) != HERD_OK) {
			fprintf(stderr, "herd: results store %s: %s\n", a.db, store_errmsg(st));
			rc = EXIT_SETUP;
		}
	} else if (strcmp(sub, "show") == 0) {
		if ((rc = resolve(st, a.db, a.argv[1], id, sizeof(id))) == 0 &&
		    store_show_run(st, id, stdout) != HERD_OK) {
			fprintf(stderr, "herd: results store %s: %s\n", a.db, store_errmsg(st));
			rc = EXIT_SETUP;
		}
	} else if (strcmp(sub, "baseline") == 0) {
		if ((rc = resolve(st, a.db, a.argv[2], id, sizeof(id))) == 0) {
			if (store_baseline_set(st, id) != HERD_OK) {
				fprintf(stderr, "herd: results store %s: %s\n", a.db, store_errmsg(st));
				rc = EXIT_SETUP;
			} else {
				printf("%s is now the baseline of its plan\n", id);
			}
		}
	} else if (strcmp(sub, "compare") == 0) {
		rc = cmd_compare(st, &a);
	} else {
		rc = cmd_export(st, &a);
	}
	store_close(st);
	return rc;
}

int cli_report(int argc, char **argv)
{
	args a;
	store *st;
	char err[512], id[64], path[128];
	int rc;
	if (parse_args(argc, argv, &a) != 0)
		return EXIT_INVALID;
	if (a.nargs != 1) {
		fprintf(stderr, "herd report: expected RUN [-o FILE.html] (RUN: an id, 'latest' or "
		                "'previous')\n");
		return EXIT_INVALID;
	}
	if (store_open(a.db, &st, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: results store %s: %s\n", a.db, err);
		return EXIT_SETUP;
	}
	if ((rc = resolve(st, a.db, a.argv[0], id, sizeof(id))) == 0) {
		const char *to = a.out;
		if (to == NULL) {
			snprintf(path, sizeof(path), "herd-report-%s.html", id);
			to = path;
		}
		rc = report_to_file(st, id, to);
	}
	store_close(st);
	return rc;
}

int report_to_file(store *st, const char *run_id, const char *path)
{
	char err[512];
	FILE *out = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	if (out == NULL) {
		fprintf(stderr, "herd: cannot write the report %s: %s\n", path, strerror(errno));
		return EXIT_SETUP;
	}
	int rv = report_write(st, run_id, out, err, sizeof(err));
	if (out != stdout && fclose(out) != 0 && rv == HERD_OK) {
		rv = HERD_EIO;
		snprintf(err, sizeof(err), "%s", strerror(errno));
	}
	if (rv != HERD_OK) {
		fprintf(stderr, "herd: the report of %s: %s\n", run_id, err);
		return rv == HERD_ENOTFOUND ? EXIT_NO_RUN : EXIT_SETUP;
	}
	if (out != stdout)
		fprintf(stderr, "herd: report written to %s\n", path);
	return 0;
}

int cli_after_run(const char *db, const char *run_id, const char *report, const char *junit)
{
	store *st;
	char err[512];
	int rc = 0;
	if (store_open(db, &st, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: results store %s: %s\n", db, err);
		return EXIT_SETUP;
	}
	if (report != NULL)
		rc = report_to_file(st, run_id, report);
	if (junit != NULL) {
		FILE *out = fopen(junit, "w");
		int rv = out != NULL ? export_run(st, run_id, EXPORT_JUNIT, out, err, sizeof(err))
		                     : HERD_EIO;
		if (out == NULL)
			snprintf(err, sizeof(err), "%s", strerror(errno));
		if (out != NULL && fclose(out) != 0 && rv == HERD_OK) {
			rv = HERD_EIO;
			snprintf(err, sizeof(err), "%s", strerror(errno));
		}
		if (rv != HERD_OK) {
			fprintf(stderr, "herd: cannot write the JUnit report %s: %s\n", junit, err);
			rc = rc ? rc : EXIT_SETUP;
		}
	}
	store_close(st);
	return rc;
}
