/*
 * Logging to stderr: one line per event, with a level and a component
 * ("agent", "ctl"). HERD_LOG=debug shows debug lines.
 */
#ifndef HERD_COMMON_LOG_H
#define HERD_COMMON_LOG_H

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Sets the component printed on each line (static string) and the minimum
 * level from HERD_LOG. Call once from main. */
void log_init(const char *component);
void log_set_level(log_level lvl);
void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
