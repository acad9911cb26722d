#include <pthread.h>
#include <sys/socket.h>

#include "common/curl.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void cove_curl_init(void)
{
	pthread_once(&curl_once, curl_init);
}

static curl_socket_t open_cloexec(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	(void)clientp;
	(void)purpose;
	int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

void cove_curl_cloexec(CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_cloexec);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, NULL);
}
