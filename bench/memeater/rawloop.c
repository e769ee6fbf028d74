/*
 * The hardware limit for memeater's peak benchmark: the plainest loop that dirties pages,
 * with no stamping, checking, pacing or bookkeeping. Writes BYTES bytes (word stores of a
 * changing value) at the start of every page of a SIZE_MIB region, sweeping it in order,
 * on THREADS threads (each owns an equal share), for SECONDS seconds. It prefetches
 * 8 pages ahead like memeater, so neither is held back by a latency the other hides.
 * Prints: pages_written seconds
 * Build: gcc -O2 -pthread rawloop.c -o rawloop
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef struct {
    uint8_t *base;
    size_t pages;
    size_t words;
    double seconds;
    uint64_t written;
} share_t;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *sweep(void *argument) {
    share_t *share = argument;
    double end = now_seconds() + share->seconds;
    uint64_t value = 1, written = 0;
    while (1) {
        for (size_t page = 0; page < share->pages; page++) {
            /* Prefetch 8 pages ahead, as memeater does, so that the limit is the memory system's. */
            __builtin_prefetch(share->base + ((page + 8) % share->pages) * 4096, 1);
            volatile uint64_t *words = (volatile uint64_t *)(share->base + page * 4096);
            for (size_t k = 0; k < share->words; k++) words[k] = value + k;
            value++;
            written++;
            /* Look at the clock as often as memeater does (every 256 pages). */
            if ((written & 255) == 0 && now_seconds() >= end) {
                share->written = written;
                return NULL;
            }
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: rawloop SIZE_MIB BYTES_PER_PAGE THREADS SECONDS\n");
        return 2;
    }
    size_t size = strtoull(argv[1], NULL, 10) << 20;
    size_t bytes = strtoull(argv[2], NULL, 10);
    int threads = atoi(argv[3]);
    double seconds = atof(argv[4]);
    if (bytes < 8 || bytes > 4096 || threads < 1 || threads > 64) {
        fprintf(stderr, "rawloop: bad arguments\n");
        return 2;
    }
    uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset(base, 1, size); /* fault in first, as memeater does */
    size_t pages = size / 4096, share_pages = pages / threads;
    pthread_t tid[64];
    share_t shares[64];
    double start = now_seconds();
    for (int i = 0; i < threads; i++) {
        shares[i] = (share_t){base + (size_t)i * share_pages * 4096, share_pages, bytes / 8, seconds, 0};
        pthread_create(&tid[i], NULL, sweep, &shares[i]);
    }
    uint64_t total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        total += shares[i].written;
    }
    printf("%llu %.6f\n", (unsigned long long)total, now_seconds() - start);
    return 0;
}
