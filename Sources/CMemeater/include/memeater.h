/*
 * memeater core: a memory region whose pages are rewritten at a set rate of
 * unique pages per second, each write stamped so that a lost write is found.
 *
 * Page layout (the first `bytes_per_write` bytes of every page are owned by us):
 *   word 0  ME_MAGIC ^ seed           (a foreign page fails here)
 *   word 1  page index                (a page from elsewhere fails here)
 *   word 2  generation                (a stale page fails here)
 *   word 3  check = mix(seed, index, generation)
 *   word 4.. payload derived from (seed, index, generation), last word included
 * Every write bumps the generation, so every written byte changes: zero-page
 * detection, page hashing and XBZRLE cannot make a write disappear.
 *
 * Threads: the caller starts one thread per worker and calls
 * me_engine_run_worker(engine, i) in it. Worker i owns a contiguous
 * partition of the region, so workers never touch each other's pages and a
 * whole-region verification is done by each worker over its own partition.
 *
 * Clock: every function that needs time takes it from CLOCK_MONOTONIC, except
 * the pacer and the stall measurement (me_engine_note_iteration), which take
 * `now` from their caller so that tests can drive them on a simulated clock.
 */
#ifndef MEMEATER_H
#define MEMEATER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ME_MAGIC 0x4d454d4541544552ULL /* "MEMEATER" */
#define ME_HEADER_BYTES 32u
#define ME_MAX_REPORTED_BAD_PAGES 16u

/* ---------------------------------------------------------------- pacer */

/*
 * Absolute-deadline pacing: after `done` units since `start_ns`, the next unit
 * is due at start_ns + (done + 1) / rate. A caller that falls behind by more
 * than `max_lag_ns` forgives the excess debt instead of bursting to catch up,
 * so a guest frozen for 2 s does not dirty 2 s worth of pages in one go.
 */
typedef struct me_pacer {
    double units_per_second;   /* 0 = unlimited */
    uint64_t start_ns;
    uint64_t done;
    uint64_t max_lag_ns;
    uint64_t forgiven;         /* units dropped because the caller lagged */
} me_pacer;

/** Starts pacing at `rate` units per second (0 = unlimited) from `now_ns`. */
void me_pacer_init(me_pacer *pacer, double units_per_second, uint64_t now_ns, uint64_t max_lag_ns);
/** How many units are due at `now_ns` (capped by the lag allowance). Unlimited pacing returns UINT64_MAX. */
uint64_t me_pacer_due(me_pacer *pacer, uint64_t now_ns);
/** Records that `units` were done. */
void me_pacer_consume(me_pacer *pacer, uint64_t units);
/** The instant at which the next unit falls due. Unlimited pacing returns 0. */
uint64_t me_pacer_next_due_ns(const me_pacer *pacer);

/* -------------------------------------------------------------- patterns */

typedef enum me_pattern {
    ME_PATTERN_SEQUENTIAL = 0, /* sweep the partition in order, wrapping */
    ME_PATTERN_RANDOM = 1,     /* uniform over the partition */
    ME_PATTERN_HOTSET = 2,     /* hot_fraction of the pages take hot_probability of the writes */
} me_pattern;

/** Reproducible page chooser over [0, page_count). Same seed, same sequence. */
typedef struct me_chooser {
    me_pattern pattern;
    uint64_t page_count;
    uint64_t hot_pages;        /* hot set = pages [0, hot_pages) */
    double hot_probability;
    uint64_t cursor;           /* sequential position */
    uint64_t rng_state;
} me_chooser;

void me_chooser_init(me_chooser *chooser, me_pattern pattern, uint64_t page_count,
                     double hot_fraction, double hot_probability, uint64_t seed);
/** The next page index (relative to the chooser's range). */
uint64_t me_chooser_next(me_chooser *chooser);

/* -------------------------------------------------------- stamped pages */

/** What one page holds when it differs from what was last written there. */
typedef struct me_bad_page {
    uint64_t page;               /* index in the region */
    uint64_t expected_generation;
    uint64_t found_generation;   /* word 2 as found */
    uint64_t found_index;        /* word 1 as found */
    uint32_t first_bad_offset;   /* byte offset of the first differing word */
} me_bad_page;

/** Writes generation `generation` of page `index` into `page`. */
void me_stamp_page(void *page, uint64_t index, uint64_t generation, uint64_t seed, size_t bytes_per_write);
/**
 * Checks that `page` holds generation `generation` of page `index`.
 * `full` compares every stamped word; otherwise the header and the last word.
 * Returns true when intact; otherwise fills `bad` (if not NULL).
 */
bool me_check_page(const void *page, uint64_t index, uint64_t generation, uint64_t seed,
                   size_t bytes_per_write, bool full, me_bad_page *bad);

/* ---------------------------------------------------------------- engine */

typedef enum me_hugepages {
    ME_HUGEPAGES_DEFAULT = 0,  /* leave the system policy */
    ME_HUGEPAGES_ON = 1,       /* madvise(MADV_HUGEPAGE) */
    ME_HUGEPAGES_OFF = 2,      /* madvise(MADV_NOHUGEPAGE) */
} me_hugepages;

typedef struct me_config {
    uint64_t size_bytes;
    uint32_t workers;            /* >= 1 */
    me_pattern pattern;
    double hot_fraction;         /* HOTSET only, (0, 1) */
    double hot_probability;      /* HOTSET only, [0, 1] */
    uint64_t seed;
    uint32_t bytes_per_write;    /* 32 .. page size, multiple of 8 */
    bool lock_memory;            /* mlock the region */
    me_hugepages hugepages;
} me_config;

/** Totals over all workers at one instant. Counters only grow. */
typedef struct me_stats {
    uint64_t pages_written;        /* every page write, repeats included */
    uint64_t unique_pages_dirtied; /* writes to a page not yet written in the current 1 s window: what the rate counts */
    uint64_t pages_verified;       /* pages checked (before a rewrite, or by a whole-region verification) */
    uint64_t integrity_errors;     /* pages found not holding what was last written there */
    uint64_t max_stall_ns;         /* largest gap between consecutive loop iterations of any worker, since start
                                      or the last reset: the largest me_worker_stats.max_stall_ns */
    uint64_t pages_forgiven;       /* pacing debt dropped after a stall */
    uint32_t running_workers;
    uint32_t bad_page_count;       /* entries valid in bad_pages */
    me_bad_page bad_pages[ME_MAX_REPORTED_BAD_PAGES];
} me_stats;

/** One worker's own figures at one instant (worker i dirties the i-th share of the region). */
typedef struct me_worker_stats {
    uint64_t max_stall_ns;         /* largest gap between consecutive iterations of this worker's loop, since start
                                      or the last reset (0: its loop has not come round twice since) */
} me_worker_stats;

/** Result of one whole-region verification. */
typedef struct me_verify_result {
    uint64_t pages_checked;
    uint64_t bad_pages_total;
    uint64_t elapsed_ns;
    uint32_t bad_page_count;       /* entries valid in bad_pages */
    me_bad_page bad_pages[ME_MAX_REPORTED_BAD_PAGES];
} me_verify_result;

typedef struct me_engine me_engine;

/**
 * Allocates, optionally locks, and stamps (faults in) the whole region.
 * Returns NULL and writes a one-line reason into `error` on failure.
 */
me_engine *me_engine_create(const me_config *config, char *error, size_t error_length);
void me_engine_destroy(me_engine *engine);

uint64_t me_engine_page_count(const me_engine *engine);
uint32_t me_engine_page_size(const me_engine *engine);

/** Runs worker `worker` until me_engine_stop. Call from a thread of its own. */
void me_engine_run_worker(me_engine *engine, uint32_t worker);
/** Sets the target in unique pages per second over all workers (0 = unlimited). */
void me_engine_set_rate(me_engine *engine, double pages_per_second);
double me_engine_rate(const me_engine *engine);
void me_engine_set_paused(me_engine *engine, bool paused);
bool me_engine_paused(const me_engine *engine);
/** Asks every worker to return; me_engine_run_worker returns soon after. */
void me_engine_stop(me_engine *engine);
/** Lets workers run again after me_engine_stop; call only when none is running. */
void me_engine_clear_stop(me_engine *engine);
void me_engine_stats(me_engine *engine, me_stats *stats);
/** The number of workers (me_config.workers). */
uint32_t me_engine_worker_count(const me_engine *engine);
/**
 * As me_engine_stats, and fills workers[0 ..< min(capacity, worker count)] with each worker's
 * own figures from the same reading, so that stats->max_stall_ns is the largest of their
 * max_stall_ns. `workers` may be NULL when `capacity` is 0.
 */
void me_engine_stats_per_worker(me_engine *engine, me_stats *stats, me_worker_stats *workers, uint32_t capacity);
/**
 * Verifies every page against its last written generation (full compare).
 * Running workers each verify their own partition while dirtying waits;
 * partitions without a running worker are verified by the caller.
 */
void me_engine_verify_all(me_engine *engine, me_verify_result *result);
/** Restarts the stall measurement of every worker, e.g. just before a migration. */
void me_engine_reset_max_stall(me_engine *engine);
/**
 * The stall measurement: worker `worker`'s loop came round at `now_ns`. The gap since its
 * previous iteration counts towards that worker's max_stall_ns (and so the total's); the first
 * iteration after the worker starts, or after it served a verification, only sets the clock.
 * Returns the gap counted (0 for none, or when `worker` is out of range).
 * me_engine_run_worker calls it with CLOCK_MONOTONIC on every iteration; tests call it with a
 * simulated clock while no worker runs. Only the thread running worker `worker` may call it.
 */
uint64_t me_engine_note_iteration(me_engine *engine, uint32_t worker, uint64_t now_ns);
/**
 * Fault injection for tests of the checks: flips one byte of page `page` at
 * `offset` without updating its expected generation. Returns false when out of range.
 */
bool me_engine_corrupt_page(me_engine *engine, uint64_t page, uint32_t offset);

/**
 * The memory of page `page`, or NULL when it is outside the region: for tests and
 * diagnostics that look at what memeater wrote. Writing through it bypasses the
 * bookkeeping, as a lost write would. Only while no worker runs.
 */
uint8_t *me_engine_page_address(me_engine *engine, uint64_t page);

/** CLOCK_MONOTONIC in nanoseconds. */
uint64_t me_monotonic_ns(void);

#ifdef __cplusplus
}
#endif

#endif
