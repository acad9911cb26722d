/* libFuzzer target: the proto3-JSON mapping of envd's process messages, as
 * the agent parses requests and the host parses events. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/process.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct process_start req;
	if (process_start_parse(data, size, &req, NULL) == 0) {
		/* What parses must encode again. */
		char *json = process_start_encode((const char *const *)req.argv, (const char *const *)req.envs, req.cwd,
						  req.stdin_open);
		if (!json)
			abort();
		free(json);
		process_start_clear(&req);
	}
	struct process_event ev;
	if (process_event_parse(data, size, &ev, NULL) == 0)
		process_event_clear(&ev);
	char code[32], message[256];
	connect_end_parse(data, size, code, sizeof(code), message, sizeof(message));
	char status[64];
	if (size > 0 && size < sizeof(status)) {
		memcpy(status, data, size);
		status[size] = '\0';
		(void)process_status_signal(status);
	}
	return 0;
}
