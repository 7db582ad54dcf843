/* watchdog.h - sets a flag when a time budget runs out (MuPDF's cookie abort field). */
#ifndef DQ_INGEST_WATCHDOG_H
#define DQ_INGEST_WATCHDOG_H

#include <stdbool.h>

typedef struct watchdog watchdog;

/* Starts a thread that sets *flag to 1 after seconds (> 0) unless stopped
 * first. NULL (and no thread) when seconds <= 0 or no thread can start: the
 * caller still checks the clock between pages. */
watchdog *watchdog_start(double seconds, int *flag);
/* Stops the thread and frees w; true when the budget had run out. NULL is a no-op. */
bool watchdog_stop(watchdog *w);

#endif
