// epoll and eventfd for Swift: Glibc's module map leaves them out, and `struct epoll_event` is
// packed, which Swift cannot import faithfully, so events cross as a plain struct.
#ifndef RYMI_CEPOLL_H
#define RYMI_CEPOLL_H

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

static const uint32_t rymi_epollin = EPOLLIN;
static const uint32_t rymi_epollout = EPOLLOUT;
static const uint32_t rymi_epollrdhup = EPOLLRDHUP;
static const uint32_t rymi_epollerr = EPOLLERR;
static const uint32_t rymi_epollhup = EPOLLHUP;
static const int rymi_epoll_add = EPOLL_CTL_ADD;
static const int rymi_epoll_modify = EPOLL_CTL_MOD;
static const int rymi_epoll_delete = EPOLL_CTL_DEL;

typedef struct {
    uint32_t events;
    int32_t fd;
} rymi_epoll_ready;

static inline int rymi_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static inline int rymi_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// op: rymi_epoll_add, rymi_epoll_modify or rymi_epoll_delete.
static inline int rymi_epoll_ctl(int epfd, int op, int fd, uint32_t events) {
    struct epoll_event event;
    event.events = events;
    event.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &event);
}

static inline int rymi_epoll_wait(int epfd, rymi_epoll_ready *ready, int capacity, int timeout_ms) {
    struct epoll_event events[256];
    if (capacity > 256) capacity = 256;
    int count = epoll_wait(epfd, events, capacity, timeout_ms);
    for (int i = 0; i < count; i++) {
        ready[i].events = events[i].events;
        ready[i].fd = events[i].data.fd;
    }
    return count;
}

#endif
