/* One line per event, key=value fields, to stderr:
 *   cove: info sandbox=sb-1a2b op=boot ms=612
 * The level comes from COVE_LOG (error, warn, info, debug; default warn for the
 * CLI, set by the program with log_set_level()). */
#ifndef COVE_COMMON_LOG_H
#define COVE_COMMON_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
/* Reads COVE_LOG; keeps the current level when it is unset or unknown. */
void log_level_from_env(void);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
