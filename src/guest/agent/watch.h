/* Directory watches over inotify, as envd offers them: WatchDir (a server
 * stream of events) and the polled trio CreateWatcher / GetWatcherEvents /
 * RemoveWatcher. Recursive watches follow directories created later. */
#ifndef COVE_AGENT_WATCH_H
#define COVE_AGENT_WATCH_H

#include "agent/http.h"

enum MHD_Result watch_dir(struct http_request *r);
enum MHD_Result watcher_create(struct http_request *r);
enum MHD_Result watcher_get_events(struct http_request *r);
enum MHD_Result watcher_remove(struct http_request *r);

#endif
