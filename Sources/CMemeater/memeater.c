#define _GNU_SOURCE
#include "memeater.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_SECOND 1000000000ULL
/* A worker never sleeps longer than one tick, so a stall is measured at any rate. */
#define ME_TICK_NS 1000000ULL
/* Pacing debt older than this is forgiven rather than burst out. */
#define ME_MAX_LAG_NS 100000000ULL
/* Pages handled between two looks at the clock and the control flags. */
#define ME_BATCH_PAGES 256u
#define ME_NO_CORRUPTION UINT64_MAX
/* How many page choices are made (and prefetched) ahead of their write. */
#define ME_LOOKAHEAD 8u

uint64_t me_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SECOND + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t deadline_ns) {
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / NS_PER_SECOND),
                          .tv_nsec = (long)(deadline_ns % NS_PER_SECOND)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* ---------------------------------------------------------------- pacer */

void me_pacer_init(me_pacer *pacer, double units_per_second, uint64_t now_ns, uint64_t max_lag_ns) {
    pacer->units_per_second = units_per_second > 0 ? units_per_second : 0;
    pacer->start_ns = now_ns;
    pacer->done = 0;
    pacer->max_lag_ns = max_lag_ns;
    pacer->forgiven = 0;
}

uint64_t me_pacer_due(me_pacer *pacer, uint64_t now_ns) {
    if (pacer->units_per_second <= 0) return UINT64_MAX;
    if (now_ns <= pacer->start_ns) return 0;
    double elapsed_s = (double)(now_ns - pacer->start_ns) / (double)NS_PER_SECOND;
    /* The epsilon keeps exact products (2.010 s x 1000/s) from rounding down a unit. */
    uint64_t owed = (uint64_t)floor(elapsed_s * pacer->units_per_second + 1e-6);
    if (owed <= pacer->done) return 0;
    uint64_t due = owed - pacer->done;
    uint64_t allowance = (uint64_t)ceil((double)pacer->max_lag_ns / (double)NS_PER_SECOND * pacer->units_per_second);
    if (allowance < 1) allowance = 1;
    if (due > allowance) {
        /* Forgive the excess by moving the schedule's origin forward. */
        uint64_t excess = due - allowance;
        pacer->forgiven += excess;
        pacer->start_ns += (uint64_t)((double)excess / pacer->units_per_second * (double)NS_PER_SECOND);
        due = allowance;
    }
    return due;
}

void me_pacer_consume(me_pacer *pacer, uint64_t units) { pacer->done += units; }

uint64_t me_pacer_next_due_ns(const me_pacer *pacer) {
    if (pacer->units_per_second <= 0) return 0;
    return pacer->start_ns +
           (uint64_t)ceil((double)(pacer->done + 1) / pacer->units_per_second * (double)NS_PER_SECOND);
}

/* -------------------------------------------------------------- patterns */

static inline uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* xorshift64* : small, fast, and reproducible from its seed. */
static inline uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, bound) without modulo bias worth mentioning (Lemire's multiply-shift). */
static inline uint64_t random_below(uint64_t *state, uint64_t bound) {
    return (uint64_t)(((__uint128_t)next_random(state) * bound) >> 64);
}

void me_chooser_init(me_chooser *chooser, me_pattern pattern, uint64_t page_count,
                     double hot_fraction, double hot_probability, uint64_t seed) {
    chooser->pattern = pattern;
    chooser->page_count = page_count;
    uint64_t hot = (uint64_t)((double)page_count * hot_fraction);
    if (hot < 1) hot = 1;
    if (hot > page_count) hot = page_count;
    chooser->hot_pages = hot;
    chooser->hot_probability = hot_probability;
    chooser->cursor = 0;
    chooser->rng_state = splitmix64(seed) | 1; /* xorshift state must not be 0 */
}

uint64_t me_chooser_next(me_chooser *chooser) {
    switch (chooser->pattern) {
    case ME_PATTERN_RANDOM:
        return random_below(&chooser->rng_state, chooser->page_count);
    case ME_PATTERN_HOTSET: {
        double draw = (double)(next_random(&chooser->rng_state) >> 11) * 0x1.0p-53;
        if (draw < chooser->hot_probability || chooser->hot_pages == chooser->page_count)
            return random_below(&chooser->rng_state, chooser->hot_pages);
        return chooser->hot_pages +
               random_below(&chooser->rng_state, chooser->page_count - chooser->hot_pages);
    }
    case ME_PATTERN_SEQUENTIAL:
    default: {
        uint64_t page = chooser->cursor;
        chooser->cursor = (page + 1 == chooser->page_count) ? 0 : page + 1;
        return page;
    }
    }
}

/* -------------------------------------------------------- stamped pages */

/* One splitmix round over a mix of the three: any change of index, generation or seed changes it. */
static inline uint64_t page_check(uint64_t seed, uint64_t index, uint64_t generation) {
    return splitmix64(seed ^ (index * 0x9e3779b97f4a7c15ULL) ^ (generation * 0xc2b2ae3d27d4eb4fULL));
}

void me_stamp_page(void *page, uint64_t index, uint64_t generation, uint64_t seed, size_t bytes_per_write) {
    uint64_t *words = (uint64_t *)page;
    size_t count = bytes_per_write / sizeof(uint64_t);
    uint64_t check = page_check(seed, index, generation);
    uint64_t value = check;
    for (size_t k = 4; k < count; k++) {
        value += 0x9e3779b97f4a7c15ULL;
        words[k] = value ^ (value >> 29);
    }
    /* Header last: a torn write leaves a header that still names the old generation. */
    words[0] = ME_MAGIC ^ seed;
    words[1] = index;
    words[2] = generation;
    words[3] = check;
}

static inline uint64_t payload_word(uint64_t check, size_t k) {
    uint64_t value = check + (uint64_t)(k - 3) * 0x9e3779b97f4a7c15ULL;
    return value ^ (value >> 29);
}

bool me_check_page(const void *page, uint64_t index, uint64_t generation, uint64_t seed,
                   size_t bytes_per_write, bool full, me_bad_page *bad) {
    const volatile uint64_t *words = (const volatile uint64_t *)page;
    size_t count = bytes_per_write / sizeof(uint64_t);
    uint64_t check = page_check(seed, index, generation);
    size_t bad_word = SIZE_MAX;
    if (words[0] != (ME_MAGIC ^ seed)) bad_word = 0;
    else if (words[1] != index) bad_word = 1;
    else if (words[2] != generation) bad_word = 2;
    else if (words[3] != check) bad_word = 3;
    else if (full) {
        for (size_t k = 4; k < count; k++) {
            if (words[k] != payload_word(check, k)) { bad_word = k; break; }
        }
    } else if (count > 4 && words[count - 1] != payload_word(check, count - 1)) {
        bad_word = count - 1;
    }
    if (bad_word == SIZE_MAX) return true;
    if (bad) {
        bad->page = index;
        bad->expected_generation = generation;
        bad->found_generation = words[2];
        bad->found_index = words[1];
        bad->first_bad_offset = (uint32_t)(bad_word * sizeof(uint64_t));
    }
    return false;
}

/* ---------------------------------------------------------------- engine */

typedef struct me_worker {
    _Alignas(64) _Atomic uint64_t pages_written;
    _Atomic uint64_t unique_pages;
    _Atomic uint64_t pages_verified;
    _Atomic uint64_t integrity_errors;
    _Atomic uint64_t max_stall_ns;
    _Atomic uint64_t pages_forgiven;
    uint64_t first_page;
    uint64_t page_count;
    uint64_t last_iteration_ns;  /* owned by the worker's thread: when its loop last came round */
    bool iteration_clock_set;    /* owned by the worker's thread: last_iteration_ns is valid */
    bool running;              /* guarded by engine->lock */
    bool verified_by_caller;   /* guarded by engine->lock: idle at request time */
    uint64_t verify_served;    /* guarded by engine->lock */
} me_worker;

struct me_engine {
    me_config config;
    uint8_t *base;
    size_t mapped_bytes;
    uint64_t page_count;
    uint32_t page_size;
    uint32_t *generations;     /* expected generation of each page */
    uint32_t *window_of_last_write; /* 1 s window (1-based) of each page's last write */
    uint64_t start_ns;
    _Atomic uint64_t rate_bits; /* double, pages per second over all workers */
    _Atomic uint64_t rate_epoch; /* bumped on every rate change so workers re-pace */
    _Atomic bool paused;
    _Atomic bool stopping;
    _Atomic uint64_t corrupt_request; /* page index or ME_NO_CORRUPTION */
    uint32_t corrupt_offset;

    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_mutex_t verify_serial;
    _Atomic uint64_t verify_sequence;  /* bumped per verification request */
    uint32_t verify_outstanding;       /* workers still to report; guarded by lock */
    bool caller_verifying;             /* idle partitions being checked by the caller; guarded by lock */
    me_verify_result verify_result;    /* accumulating; guarded by lock */
    me_bad_page bad_pages[ME_MAX_REPORTED_BAD_PAGES]; /* first errors seen while dirtying; guarded by lock */
    uint32_t bad_page_count;
    me_worker workers[];
};

static double rate_from_bits(uint64_t bits) {
    double rate;
    memcpy(&rate, &bits, sizeof rate);
    return rate;
}

static uint64_t bits_from_rate(double rate) {
    uint64_t bits;
    memcpy(&bits, &rate, sizeof bits);
    return bits;
}

static uint8_t *page_address(const me_engine *engine, uint64_t page) {
    return engine->base + page * (uint64_t)engine->page_size;
}

me_engine *me_engine_create(const me_config *config, char *error, size_t error_length) {
    long system_page = sysconf(_SC_PAGESIZE);
    if (system_page <= 0) system_page = 4096;
    uint32_t page_size = (uint32_t)system_page;
    if (config->workers < 1) {
        snprintf(error, error_length, "at least one worker thread is needed");
        return NULL;
    }
    if (config->size_bytes < page_size) {
        snprintf(error, error_length, "region of %llu bytes is smaller than one %u-byte page",
                 (unsigned long long)config->size_bytes, page_size);
        return NULL;
    }
    if (config->bytes_per_write < ME_HEADER_BYTES || config->bytes_per_write > page_size ||
        config->bytes_per_write % 8 != 0) {
        snprintf(error, error_length, "bytes per write %u must be a multiple of 8 between %u and the page size %u",
                 config->bytes_per_write, ME_HEADER_BYTES, page_size);
        return NULL;
    }
    uint64_t page_count = config->size_bytes / page_size;
    if (page_count < config->workers) {
        snprintf(error, error_length, "%llu pages cannot be shared by %u workers",
                 (unsigned long long)page_count, config->workers);
        return NULL;
    }
    me_engine *engine = calloc(1, sizeof(me_engine) + config->workers * sizeof(me_worker));
    if (!engine) {
        snprintf(error, error_length, "out of memory for the engine");
        return NULL;
    }
    engine->config = *config;
    engine->page_size = page_size;
    engine->page_count = page_count;
    engine->mapped_bytes = (size_t)(page_count * page_size);
    engine->generations = calloc(page_count, sizeof(uint32_t));
    engine->window_of_last_write = calloc(page_count, sizeof(uint32_t));
    if (!engine->generations || !engine->window_of_last_write) {
        snprintf(error, error_length, "out of memory for %llu pages of bookkeeping", (unsigned long long)page_count);
        me_engine_destroy(engine);
        return NULL;
    }
    void *base = mmap(NULL, engine->mapped_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        snprintf(error, error_length, "mmap of %zu bytes failed: %s", engine->mapped_bytes, strerror(errno));
        me_engine_destroy(engine);
        return NULL;
    }
    engine->base = base;
    if (config->hugepages != ME_HUGEPAGES_DEFAULT) {
        int advice = config->hugepages == ME_HUGEPAGES_ON ? MADV_HUGEPAGE : MADV_NOHUGEPAGE;
        if (madvise(base, engine->mapped_bytes, advice) != 0) {
            snprintf(error, error_length, "madvise(%s) failed: %s",
                     config->hugepages == ME_HUGEPAGES_ON ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE", strerror(errno));
            me_engine_destroy(engine);
            return NULL;
        }
    }
    if (config->lock_memory && mlock(base, engine->mapped_bytes) != 0) {
        snprintf(error, error_length, "mlock of %zu bytes failed: %s", engine->mapped_bytes, strerror(errno));
        me_engine_destroy(engine);
        return NULL;
    }
    /* Fault in and stamp generation 0 everywhere, so every page has a known content from the start. */
    for (uint64_t page = 0; page < page_count; page++)
        me_stamp_page(page_address(engine, page), page, 0, config->seed, config->bytes_per_write);

    pthread_mutex_init(&engine->lock, NULL);
    pthread_cond_init(&engine->changed, NULL);
    pthread_mutex_init(&engine->verify_serial, NULL);
    atomic_store(&engine->corrupt_request, ME_NO_CORRUPTION);
    atomic_store(&engine->rate_bits, bits_from_rate(0));
    uint64_t share = page_count / config->workers, extra = page_count % config->workers, first = 0;
    for (uint32_t i = 0; i < config->workers; i++) {
        engine->workers[i].first_page = first;
        engine->workers[i].page_count = share + (i < extra ? 1 : 0);
        first += engine->workers[i].page_count;
    }
    engine->start_ns = me_monotonic_ns();
    return engine;
}

void me_engine_destroy(me_engine *engine) {
    if (!engine) return;
    if (engine->base) {
        pthread_mutex_destroy(&engine->lock);
        pthread_cond_destroy(&engine->changed);
        pthread_mutex_destroy(&engine->verify_serial);
        munmap(engine->base, engine->mapped_bytes);
    }
    free(engine->generations);
    free(engine->window_of_last_write);
    free(engine);
}

uint64_t me_engine_page_count(const me_engine *engine) { return engine->page_count; }
uint32_t me_engine_page_size(const me_engine *engine) { return engine->page_size; }

void me_engine_set_rate(me_engine *engine, double pages_per_second) {
    atomic_store(&engine->rate_bits, bits_from_rate(pages_per_second > 0 ? pages_per_second : 0));
    atomic_fetch_add(&engine->rate_epoch, 1);
}

double me_engine_rate(const me_engine *engine) {
    return rate_from_bits(atomic_load((_Atomic uint64_t *)&engine->rate_bits));
}

void me_engine_set_paused(me_engine *engine, bool paused) {
    atomic_store(&engine->paused, paused);
    atomic_fetch_add(&engine->rate_epoch, 1);
}

bool me_engine_paused(const me_engine *engine) { return atomic_load((_Atomic bool *)&engine->paused); }

void me_engine_stop(me_engine *engine) { atomic_store(&engine->stopping, true); }

void me_engine_clear_stop(me_engine *engine) { atomic_store(&engine->stopping, false); }

static void record_bad_page(me_bad_page *list, uint32_t *count, const me_bad_page *bad) {
    if (*count < ME_MAX_REPORTED_BAD_PAGES) list[(*count)++] = *bad;
}

/* Full check of pages [first, first + count): adds into `result`, which the caller owns. */
static void verify_range(me_engine *engine, uint64_t first, uint64_t count, me_verify_result *result) {
    for (uint64_t page = first; page < first + count; page++) {
        me_bad_page bad;
        if (!me_check_page(page_address(engine, page), page, engine->generations[page], engine->config.seed,
                           engine->config.bytes_per_write, true, &bad)) {
            result->bad_pages_total++;
            record_bad_page(result->bad_pages, &result->bad_page_count, &bad);
        }
    }
    result->pages_checked += count;
}

static void merge_verify_result(me_verify_result *into, const me_verify_result *part) {
    into->pages_checked += part->pages_checked;
    into->bad_pages_total += part->bad_pages_total;
    for (uint32_t i = 0; i < part->bad_page_count; i++)
        record_bad_page(into->bad_pages, &into->bad_page_count, &part->bad_pages[i]);
}

/* Serves a pending verification request for this worker's partition, if any. */
static bool serve_verification(me_engine *engine, me_worker *worker) {
    uint64_t requested = atomic_load_explicit(&engine->verify_sequence, memory_order_acquire);
    if (requested == worker->verify_served) return false;
    me_verify_result part = {0};
    verify_range(engine, worker->first_page, worker->page_count, &part);
    atomic_fetch_add_explicit(&worker->pages_verified, part.pages_checked, memory_order_relaxed);
    pthread_mutex_lock(&engine->lock);
    worker->verify_served = requested;
    merge_verify_result(&engine->verify_result, &part);
    engine->verify_outstanding--;
    pthread_cond_broadcast(&engine->changed);
    pthread_mutex_unlock(&engine->lock);
    return true;
}

static void apply_corruption(me_engine *engine, uint64_t page) {
    volatile uint8_t *byte = page_address(engine, page) + engine->corrupt_offset;
    *byte ^= 0x5a;
}

/* Applies a pending corruption request when it falls into this worker's partition. */
static void serve_corruption(me_engine *engine, me_worker *worker) {
    uint64_t page = atomic_load_explicit(&engine->corrupt_request, memory_order_acquire);
    if (page == ME_NO_CORRUPTION || page < worker->first_page || page >= worker->first_page + worker->page_count)
        return;
    apply_corruption(engine, page);
    atomic_store_explicit(&engine->corrupt_request, ME_NO_CORRUPTION, memory_order_release);
}

static void update_max(_Atomic uint64_t *slot, uint64_t value) {
    uint64_t current = atomic_load_explicit(slot, memory_order_relaxed);
    while (value > current &&
           !atomic_compare_exchange_weak_explicit(slot, &current, value, memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* Starts the worker's stall clock at `now_ns` without counting a gap. */
static void restart_stall_clock(me_worker *worker, uint64_t now_ns) {
    worker->last_iteration_ns = now_ns;
    worker->iteration_clock_set = true;
}

uint64_t me_engine_note_iteration(me_engine *engine, uint32_t worker_index, uint64_t now_ns) {
    if (worker_index >= engine->config.workers) return 0;
    me_worker *worker = &engine->workers[worker_index];
    uint64_t gap = 0;
    if (worker->iteration_clock_set && now_ns > worker->last_iteration_ns) {
        gap = now_ns - worker->last_iteration_ns;
        update_max(&worker->max_stall_ns, gap);
    }
    restart_stall_clock(worker, now_ns);
    return gap;
}

/* Checks the page against what was last written, then writes its next generation. Returns true if unique in this window. */
static inline bool dirty_page(me_engine *engine, me_worker *worker, uint64_t page, uint32_t window) {
    uint8_t *address = page_address(engine, page);
    uint32_t generation = engine->generations[page];
    me_bad_page bad;
    if (!me_check_page(address, page, generation, engine->config.seed, engine->config.bytes_per_write, false, &bad)) {
        atomic_fetch_add_explicit(&worker->integrity_errors, 1, memory_order_relaxed);
        pthread_mutex_lock(&engine->lock);
        record_bad_page(engine->bad_pages, &engine->bad_page_count, &bad);
        pthread_mutex_unlock(&engine->lock);
    }
    generation++;
    me_stamp_page(address, page, generation, engine->config.seed, engine->config.bytes_per_write);
    engine->generations[page] = generation;
    bool unique = engine->window_of_last_write[page] != window;
    engine->window_of_last_write[page] = window;
    return unique;
}

void me_engine_run_worker(me_engine *engine, uint32_t worker_index) {
    if (worker_index >= engine->config.workers) return;
    me_worker *worker = &engine->workers[worker_index];
    pthread_mutex_lock(&engine->lock);
    if (worker->running) { /* one thread per worker */
        pthread_mutex_unlock(&engine->lock);
        return;
    }
    /* Do not start writing a partition that the caller of a verification is reading. */
    while (engine->caller_verifying) pthread_cond_wait(&engine->changed, &engine->lock);
    worker->running = true;
    worker->verify_served = atomic_load(&engine->verify_sequence);
    pthread_mutex_unlock(&engine->lock);

    me_chooser chooser;
    me_chooser_init(&chooser, engine->config.pattern, worker->page_count, engine->config.hot_fraction,
                    engine->config.hot_probability, engine->config.seed ^ (0x51ed2701ULL * (worker_index + 1)));
    /* Pages are chosen ME_LOOKAHEAD writes ahead and prefetched: the check before each rewrite
       reads the page, and without this every page is a full memory-latency miss (the hardware
       prefetcher does not cross 4 KiB boundaries). */
    uint64_t upcoming[ME_LOOKAHEAD];
    for (unsigned i = 0; i < ME_LOOKAHEAD; i++) {
        upcoming[i] = worker->first_page + me_chooser_next(&chooser);
        __builtin_prefetch(page_address(engine, upcoming[i]), 1);
    }
    unsigned next_slot = 0;
    me_pacer pacer;
    uint64_t seen_epoch = UINT64_MAX;
    /* A gap while the worker was not running (stopped, then started again) is no stall. */
    restart_stall_clock(worker, me_monotonic_ns());
    uint32_t workers = engine->config.workers;

    while (!atomic_load_explicit(&engine->stopping, memory_order_relaxed)) {
        uint64_t now = me_monotonic_ns();
        me_engine_note_iteration(engine, worker_index, now);
        if (serve_verification(engine, worker)) {
            /* Time spent verifying on request is not a stall of the guest. */
            restart_stall_clock(worker, me_monotonic_ns());
            seen_epoch = UINT64_MAX; /* re-pace: no burst to make up for the verification */
        }
        serve_corruption(engine, worker);

        uint64_t epoch = atomic_load_explicit(&engine->rate_epoch, memory_order_acquire);
        if (epoch != seen_epoch) {
            seen_epoch = epoch;
            double rate = rate_from_bits(atomic_load(&engine->rate_bits));
            if (rate > 0) rate /= workers;
            atomic_fetch_add_explicit(&worker->pages_forgiven, pacer.forgiven, memory_order_relaxed);
            me_pacer_init(&pacer, rate, now, ME_MAX_LAG_NS);
        }
        if (atomic_load_explicit(&engine->paused, memory_order_relaxed)) {
            sleep_until_ns(now + ME_TICK_NS);
            continue;
        }
        uint64_t due = me_pacer_due(&pacer, now);
        if (due == 0) {
            uint64_t next = me_pacer_next_due_ns(&pacer);
            sleep_until_ns(next < now + ME_TICK_NS ? next : now + ME_TICK_NS);
            continue;
        }
        if (due > ME_BATCH_PAGES) due = ME_BATCH_PAGES;
        uint32_t window = (uint32_t)((now - engine->start_ns) / NS_PER_SECOND) + 1;
        /* Repeat picks (random and hot-set patterns) do not count; bound the tries so the loop stays responsive. */
        uint64_t unique = 0, written = 0, tries = 4 * due + 64;
        while (unique < due && written < tries) {
            uint64_t page = upcoming[next_slot];
            uint64_t ahead = worker->first_page + me_chooser_next(&chooser);
            upcoming[next_slot] = ahead;
            next_slot = (next_slot + 1) % ME_LOOKAHEAD;
            __builtin_prefetch(page_address(engine, ahead), 1);
            if (dirty_page(engine, worker, page, window)) unique++;
            written++;
        }
        me_pacer_consume(&pacer, unique);
        atomic_fetch_add_explicit(&worker->pages_written, written, memory_order_relaxed);
        atomic_fetch_add_explicit(&worker->unique_pages, unique, memory_order_relaxed);
        atomic_fetch_add_explicit(&worker->pages_verified, written, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&worker->pages_forgiven, pacer.forgiven, memory_order_relaxed);
    /* A verification asked for while we were stopping must still be answered. */
    for (;;) {
        pthread_mutex_lock(&engine->lock);
        if (atomic_load(&engine->verify_sequence) == worker->verify_served) {
            worker->running = false;
            pthread_cond_broadcast(&engine->changed);
            pthread_mutex_unlock(&engine->lock);
            break;
        }
        pthread_mutex_unlock(&engine->lock);
        serve_verification(engine, worker);
    }
}

uint32_t me_engine_worker_count(const me_engine *engine) { return engine->config.workers; }

void me_engine_stats(me_engine *engine, me_stats *stats) { me_engine_stats_per_worker(engine, stats, NULL, 0); }

void me_engine_stats_per_worker(me_engine *engine, me_stats *stats, me_worker_stats *workers, uint32_t capacity) {
    memset(stats, 0, sizeof *stats);
    for (uint32_t i = 0; i < engine->config.workers; i++) {
        me_worker *worker = &engine->workers[i];
        stats->pages_written += atomic_load_explicit(&worker->pages_written, memory_order_relaxed);
        stats->unique_pages_dirtied += atomic_load_explicit(&worker->unique_pages, memory_order_relaxed);
        stats->pages_verified += atomic_load_explicit(&worker->pages_verified, memory_order_relaxed);
        stats->integrity_errors += atomic_load_explicit(&worker->integrity_errors, memory_order_relaxed);
        stats->pages_forgiven += atomic_load_explicit(&worker->pages_forgiven, memory_order_relaxed);
        uint64_t stall = atomic_load_explicit(&worker->max_stall_ns, memory_order_relaxed);
        if (stall > stats->max_stall_ns) stats->max_stall_ns = stall;
        if (workers && i < capacity) workers[i] = (me_worker_stats){.max_stall_ns = stall};
    }
    pthread_mutex_lock(&engine->lock);
    for (uint32_t i = 0; i < engine->config.workers; i++)
        if (engine->workers[i].running) stats->running_workers++;
    stats->bad_page_count = engine->bad_page_count;
    memcpy(stats->bad_pages, engine->bad_pages, sizeof engine->bad_pages);
    pthread_mutex_unlock(&engine->lock);
}

void me_engine_verify_all(me_engine *engine, me_verify_result *result) {
    uint64_t started = me_monotonic_ns();
    pthread_mutex_lock(&engine->verify_serial);
    pthread_mutex_lock(&engine->lock);
    memset(&engine->verify_result, 0, sizeof engine->verify_result);
    engine->verify_outstanding = 0;
    for (uint32_t i = 0; i < engine->config.workers; i++) {
        me_worker *worker = &engine->workers[i];
        worker->verified_by_caller = !worker->running;
        if (worker->running) engine->verify_outstanding++;
    }
    engine->caller_verifying = true;
    atomic_fetch_add_explicit(&engine->verify_sequence, 1, memory_order_release);
    pthread_mutex_unlock(&engine->lock);

    /* Partitions without a running worker are ours; no worker starts on them until we are done. */
    me_verify_result own = {0};
    for (uint32_t i = 0; i < engine->config.workers; i++) {
        if (engine->workers[i].verified_by_caller)
            verify_range(engine, engine->workers[i].first_page, engine->workers[i].page_count, &own);
    }

    pthread_mutex_lock(&engine->lock);
    engine->caller_verifying = false;
    pthread_cond_broadcast(&engine->changed);
    while (engine->verify_outstanding > 0) pthread_cond_wait(&engine->changed, &engine->lock);
    merge_verify_result(&engine->verify_result, &own);
    *result = engine->verify_result;
    pthread_mutex_unlock(&engine->lock);
    pthread_mutex_unlock(&engine->verify_serial);
    result->elapsed_ns = me_monotonic_ns() - started;
}

void me_engine_reset_max_stall(me_engine *engine) {
    for (uint32_t i = 0; i < engine->config.workers; i++)
        atomic_store_explicit(&engine->workers[i].max_stall_ns, 0, memory_order_relaxed);
}

uint8_t *me_engine_page_address(me_engine *engine, uint64_t page) {
    return page < engine->page_count ? page_address(engine, page) : NULL;
}

bool me_engine_corrupt_page(me_engine *engine, uint64_t page, uint32_t offset) {
    if (page >= engine->page_count || offset >= engine->config.bytes_per_write) return false;
    pthread_mutex_lock(&engine->verify_serial); /* one request at a time */
    engine->corrupt_offset = offset;
    uint32_t owner = 0;
    for (uint32_t i = 0; i < engine->config.workers; i++)
        if (page >= engine->workers[i].first_page) owner = i;
    pthread_mutex_lock(&engine->lock);
    bool owner_running = engine->workers[owner].running;
    if (owner_running) atomic_store_explicit(&engine->corrupt_request, page, memory_order_release);
    pthread_mutex_unlock(&engine->lock);
    if (!owner_running) {
        apply_corruption(engine, page);
    } else {
        /* The owning worker applies it between two of its writes, so it cannot race with a rewrite. */
        while (atomic_load_explicit(&engine->corrupt_request, memory_order_acquire) != ME_NO_CORRUPTION) {
            pthread_mutex_lock(&engine->lock);
            bool still_running = engine->workers[owner].running;
            pthread_mutex_unlock(&engine->lock);
            if (!still_running) {
                uint64_t expected = page;
                if (atomic_compare_exchange_strong(&engine->corrupt_request, &expected, ME_NO_CORRUPTION))
                    apply_corruption(engine, page);
                break;
            }
            sleep_until_ns(me_monotonic_ns() + 100000);
        }
    }
    pthread_mutex_unlock(&engine->verify_serial);
    return true;
}
