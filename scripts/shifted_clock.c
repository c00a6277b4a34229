/* A preload library that moves the wall clock (CLOCK_REALTIME and its kin) of a process and
 * its children by SHIFTED_CLOCK_SECONDS, and leaves the monotonic clocks alone, so that every
 * relative timeout, sleep and lock wait keeps its length (a wait until an instant of the wall
 * clock is moved only in clock_nanosleep: not in pthread_cond_timedwait, sem_timedwait or
 * timerfd, which Python does not use). Used by scripts/test-shifted to run the tests on
 * another date.
 *
 *   cc -shared -fPIC -O2 -o shifted_clock.so shifted_clock.c -ldl
 *   SHIFTED_CLOCK_SECONDS=$((400*86400)) LD_PRELOAD=$PWD/shifted_clock.so date
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static time_t seconds;

/* Read once, when the library is loaded: before any thread of the program can ask the time. */
__attribute__((constructor)) static void read_shift(void) {
    const char *text = getenv("SHIFTED_CLOCK_SECONDS");
    seconds = text ? (time_t)atoll(text) : 0;
}

static time_t shift(void) { return seconds; }

static int is_wall(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI
#ifdef CLOCK_REALTIME_ALARM
           || clock == CLOCK_REALTIME_ALARM
#endif
        ;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
    int done = real(clock, ts);
    if (done == 0 && is_wall(clock)) ts->tv_sec += shift();
    return done;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    static int (*real)(struct timeval *restrict, void *restrict);
    if (!real) real = dlsym(RTLD_NEXT, "gettimeofday");
    int done = real(tv, tz);
    /* tv may be NULL, whatever glibc's prototype says: a volatile copy keeps the check. */
    struct timeval *volatile given = tv;
    if (done == 0 && given) given->tv_sec += shift();
    return done;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

/* A sleep until an instant of the wall clock: that instant of the machine's. */
int clock_nanosleep(clockid_t clock, int flags, const struct timespec *until,
                    struct timespec *left) {
    static int (*real)(clockid_t, int, const struct timespec *, struct timespec *);
    if (!real) real = dlsym(RTLD_NEXT, "clock_nanosleep");
    if ((flags & TIMER_ABSTIME) && is_wall(clock) && until) {
        struct timespec moved = *until;
        moved.tv_sec -= shift();
        return real(clock, flags, &moved, left);
    }
    return real(clock, flags, until, left);
}
