#include "proto/envelope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

void envelope_header_encode(uint8_t flags, uint32_t len, uint8_t out[ENVELOPE_HEADER_SIZE])
{
	out[0] = flags;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

int envelope_header_decode(const uint8_t in[ENVELOPE_HEADER_SIZE], size_t max, uint8_t *flags, uint32_t *len)
{
	uint8_t f = in[0];
	uint32_t n = (uint32_t)in[1] << 24 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 8 | in[4];
	if (f & ~(ENVELOPE_FLAG_COMPRESSED | ENVELOPE_FLAG_END))
		return -EPROTO;
	if (f & ENVELOPE_FLAG_COMPRESSED)
		return -EPROTO;
	if (n > max)
		return -EMSGSIZE;
	*flags = f;
	*len = n;
	return 0;
}

void envelope_decoder_init(struct envelope_decoder *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = max;
}

void envelope_decoder_free(struct envelope_decoder *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

int envelope_decoder_feed(struct envelope_decoder *d, const void *data, size_t len)
{
	/* Drop what earlier envelopes used; their pointers expire here. */
	if (d->off) {
		memmove(d->buf, d->buf + d->off, d->len - d->off);
		d->len -= d->off;
		d->off = 0;
	}
	if (len > ENVELOPE_FEED_MAX || d->len + len > d->max + ENVELOPE_HEADER_SIZE + ENVELOPE_FEED_MAX)
		return -EMSGSIZE;
	if (len == 0) /* nothing to add; and no memcpy into a buffer never allocated */
		return 0;
	if (d->len + len > d->cap) {
		size_t cap = d->cap ? d->cap : 4096;
		while (cap < d->len + len)
			cap *= 2;
		uint8_t *nb = realloc(d->buf, cap);
		if (!nb)
			return -ENOMEM;
		d->buf = nb;
		d->cap = cap;
	}
	memcpy(d->buf + d->len, data, len);
	d->len += len;
	return 0;
}

int envelope_decoder_next(struct envelope_decoder *d, struct envelope *out)
{
	size_t avail = d->len - d->off;
	if (avail < ENVELOPE_HEADER_SIZE)
		return 0;
	uint8_t flags;
	uint32_t n;
	int r = envelope_header_decode(d->buf + d->off, d->max, &flags, &n);
	if (r < 0)
		return r;
	if (avail - ENVELOPE_HEADER_SIZE < n)
		return 0;
	out->flags = flags;
	out->data = d->buf + d->off + ENVELOPE_HEADER_SIZE;
	out->len = n;
	d->off += ENVELOPE_HEADER_SIZE + n;
	return 1;
}

int envelope_send(int fd, uint8_t flags, const void *data, size_t len)
{
	if (len > ENVELOPE_MAX_MESSAGE)
		return -EMSGSIZE;
	uint8_t header[ENVELOPE_HEADER_SIZE];
	envelope_header_encode(flags, (uint32_t)len, header);
	struct iovec iov[2] = { { header, sizeof(header) }, { (void *)data, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	size_t total = sizeof(header) + len;
	while (total > 0) {
		ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		total -= (size_t)w;
		/* Advance past what was sent. */
		while (w > 0 && msg.msg_iovlen > 0) {
			if ((size_t)w >= msg.msg_iov->iov_len) {
				w -= (ssize_t)msg.msg_iov->iov_len;
				msg.msg_iov++;
				msg.msg_iovlen--;
			} else {
				msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + w;
				msg.msg_iov->iov_len -= (size_t)w;
				w = 0;
			}
		}
	}
	return 0;
}
