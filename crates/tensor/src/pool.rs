//! A persistent thread pool for data-parallel ops.
//!
//! One job at a time: `run(f)` hands `f(thread_index)` to every thread (the caller is thread 0)
//! and returns when all have finished. The job closure borrows from the caller's stack; that is
//! sound because `run` does not return before every worker is done with it.
//!
//! Waiting, on both sides (an idle worker for the next job, the caller for the workers to
//! finish), backs off in three steps ([`Backoff`]): spin for some microseconds, because a
//! decoder issues hundreds of small jobs per token and a sleep and wake-up per job would
//! dominate; then `yield` for a while, which on an oversubscribed machine lets a descheduled
//! pool thread (or anyone else) have this core; then block on a condvar. A job is only
//! announced with a (syscall) wake-up when a worker actually sleeps, and a worker only wakes
//! the caller when the caller sleeps.
//!
//! `for_each_chunk` is the dynamic variant: items are claimed in chunks from a shared counter by
//! whichever threads are running, and the caller closes the job once the counter is exhausted,
//! so a worker the OS has not scheduled (a busy or shared machine) is simply left out instead
//! of stalling the whole op; the caller then waits only for workers that did join.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type JobRef = &'static (dyn Fn(usize) + Sync);

/// The published job: the closure, its epoch, and whether every worker must run it (`run`) or
/// any may (`for_each_chunk`).
#[derive(Clone, Copy)]
struct Job {
    f: JobRef,
    epoch: u64,
    all: bool,
}

struct Shared {
    epoch: AtomicU64,
    /// Workers yet to finish an all-threads job.
    pending: AtomicUsize,
    /// Workers inside an any-threads job.
    active: AtomicUsize,
    shutdown: AtomicBool,
    job: Mutex<Option<Job>>,
    /// Guards worker sleep; `wake` announces a new epoch (or shutdown) to sleeping workers.
    sleep_lock: Mutex<()>,
    wake: Condvar,
    /// Workers blocked on `wake` (or about to), so `publish` can skip the wake-up syscall.
    sleepers: AtomicUsize,
    /// Guards the caller's sleep; `done` tells it the counter it waits on reached zero.
    done_lock: Mutex<()>,
    done: Condvar,
    /// The caller is blocked on `done` (or about to).
    caller_sleeps: AtomicBool,
}

/// A fixed set of worker threads. `n_threads` counts the calling thread.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    n_threads: usize,
    busy: Mutex<()>,
}

/// An idle worker spins this long for the next job, then yields until `WORKER_IDLE`, then
/// sleeps: a decode's jobs come microseconds apart, the serial work between tokens (sampling a
/// large vocabulary) takes some hundred microseconds.
const WORKER_SPIN: Duration = Duration::from_micros(100);
const WORKER_IDLE: Duration = Duration::from_micros(500);
/// The caller spins this long for the workers to finish a job, then yields until `CALLER_IDLE`,
/// then sleeps: on a quiet machine the shares end within microseconds of each other, so only a
/// descheduled worker (a busy machine) or a long share (a prompt) makes the caller sleep.
const CALLER_SPIN: Duration = Duration::from_micros(50);
const CALLER_IDLE: Duration = Duration::from_micros(200);

/// Spin, then yield, then give up (the caller of `snooze` then blocks). The clock is read only
/// once waiting has lasted a few iterations, so a wait that ends at once costs nothing.
struct Backoff {
    start: Option<Instant>,
    n: u32,
    spin: Duration,
    total: Duration,
}

impl Backoff {
    fn new(spin: Duration, total: Duration) -> Backoff {
        Backoff { start: None, n: 0, spin, total }
    }

    /// Waits a little; `false` once the whole budget is spent.
    fn snooze(&mut self) -> bool {
        self.n = self.n.wrapping_add(1);
        if !self.n.is_multiple_of(16) {
            std::hint::spin_loop();
            return true;
        }
        let start = *self.start.get_or_insert_with(Instant::now);
        let waited = start.elapsed();
        if waited < self.spin {
            std::hint::spin_loop();
        } else if waited < self.total {
            std::thread::yield_now();
            // Yields take long enough to read the clock after every one.
            self.n = self.n.wrapping_add(15);
        } else {
            return false;
        }
        true
    }
}

impl ThreadPool {
    /// A pool with `n_threads` threads in all (the caller plus `n_threads - 1` workers);
    /// 0 means one per available CPU.
    pub fn new(n_threads: usize) -> ThreadPool {
        let n_threads = if n_threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            n_threads
        };
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            job: Mutex::new(None),
            sleep_lock: Mutex::new(()),
            wake: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            done_lock: Mutex::new(()),
            done: Condvar::new(),
            caller_sleeps: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(n_threads.saturating_sub(1));
        for index in 1..n_threads {
            let worker_shared = shared.clone();
            match std::thread::Builder::new()
                .name(format!("allmende-worker-{index}"))
                .spawn(move || worker_loop(&worker_shared, index))
            {
                Ok(handle) => workers.push(handle),
                // Fewer threads than asked is still correct: indices stay contiguous.
                Err(_) => break,
            }
        }
        let n_threads = workers.len() + 1;
        ThreadPool { shared, workers, n_threads, busy: Mutex::new(()) }
    }

    /// Threads in the pool, the caller included.
    pub fn n_threads(&self) -> usize {
        self.n_threads
    }

    /// Runs `f(i)` for every thread index `i` in `0..n_threads()` in parallel and waits for all.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.n_threads == 1 {
            f(0);
            return;
        }
        // One job at a time, even if the pool is shared between callers.
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.pending.store(self.workers.len(), Ordering::SeqCst);
        // SAFETY: the 'static lifetime is a lie told only to the workers: this function does not
        // return (and so `f` stays alive) until `pending` reaches zero, which every worker
        // signals after its last use of the reference; the slot is cleared before returning.
        unsafe { self.publish(f, true) };
        f(0);
        self.wait_for_zero(&self.shared.pending);
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Puts `f` in the job slot under a new epoch and wakes the workers.
    ///
    /// # Safety
    /// The caller must keep `f` alive until every worker that can take it is done with it:
    /// for `all` jobs until `pending` is 0, otherwise until the slot is closed and `active` is 0.
    unsafe fn publish(&self, f: &(dyn Fn(usize) + Sync), all: bool) {
        // SAFETY: lifetime erasure only; the caller upholds the contract above.
        let f: JobRef = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), JobRef>(f) };
        let mut slot = self.shared.job.lock().unwrap_or_else(|e| e.into_inner());
        let epoch = self.shared.epoch.load(Ordering::Acquire) + 1;
        *slot = Some(Job { f, epoch, all });
        drop(slot);
        self.shared.epoch.store(epoch, Ordering::SeqCst);
        // A worker counts itself in `sleepers` before it checks the epoch one last time and
        // blocks (SeqCst on both sides): if it is not counted here, it will see the new epoch.
        if self.shared.sleepers.load(Ordering::SeqCst) != 0 {
            let _g = self.shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
    }

    /// Returns once `count` (`pending` or `active`) is zero: spins, yields, then sleeps until
    /// the worker that brings it to zero wakes this thread (see [`finish`]).
    fn wait_for_zero(&self, count: &AtomicUsize) {
        let mut backoff = Backoff::new(CALLER_SPIN, CALLER_IDLE);
        while count.load(Ordering::Acquire) != 0 {
            if !backoff.snooze() {
                let shared = &*self.shared;
                let mut guard = shared.done_lock.lock().unwrap_or_else(|e| e.into_inner());
                // Announced before the last check (SeqCst, as in `finish`): a worker that
                // brings the count to zero after the check sees the flag and wakes us.
                shared.caller_sleeps.store(true, Ordering::SeqCst);
                while count.load(Ordering::SeqCst) != 0 {
                    guard = shared.done.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                shared.caller_sleeps.store(false, Ordering::SeqCst);
                return;
            }
        }
    }

    /// Runs `f(range)` over `0..n` cut into ranges of `chunk` items (the last may be shorter),
    /// each claimed by whichever thread comes first; the caller takes part and returns when all
    /// ranges are done. Threads that start late are left out (see the module doc), so `f` must
    /// not rely on which thread runs a range. Ranges run in increasing order of claim.
    pub fn for_each_chunk(&self, n: usize, chunk: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
        let chunk = chunk.max(1);
        if self.n_threads == 1 || n <= chunk {
            for start in (0..n).step_by(chunk) {
                f(start..(start + chunk).min(n));
            }
            return;
        }
        let next = AtomicUsize::new(0);
        let work = |_: usize| loop {
            let start = next.fetch_add(chunk, Ordering::Relaxed);
            if start >= n {
                return;
            }
            f(start..(start + chunk).min(n));
        };
        let _busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the slot is closed below before `work` goes out of scope, and this function
        // waits for `active` to reach zero, which every worker that took the job signals after
        // its last use of it; a worker that finds the slot closed never touches `work`.
        unsafe { self.publish(&work, false) };
        work(0);
        // Every range is claimed: close the job to workers that have not joined yet.
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.wait_for_zero(&self.shared.active);
    }

    /// Splits `0..n` into one contiguous range per thread (aligned to `align` items) and runs
    /// `f(range)` on each in parallel. Ranges may be empty.
    pub fn for_each_range(&self, n: usize, align: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
        let align = align.max(1);
        let threads = self.n_threads.min(n.div_ceil(align)).max(1);
        if threads == 1 {
            f(0..n);
            return;
        }
        let units = n.div_ceil(align);
        self.run(&|t| {
            if t >= threads {
                return;
            }
            let start = (units * t / threads * align).min(n);
            let end = (units * (t + 1) / threads * align).min(n);
            if start < end {
                f(start..end);
            }
        });
    }
}

fn worker_loop(shared: &Shared, index: usize) {
    // The last epoch noticed, and the epoch of the last job run (a job runs at most once).
    let (mut seen, mut done) = (0u64, 0u64);
    loop {
        let mut backoff = Backoff::new(WORKER_SPIN, WORKER_IDLE);
        loop {
            if shared.shutdown.load(Ordering::Acquire) {
                return;
            }
            if shared.epoch.load(Ordering::Acquire) != seen {
                break;
            }
            if !backoff.snooze() {
                let guard = shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
                // Counted before the last check (see `publish`), under the lock that `publish`
                // takes to notify, so the wake-up cannot fall between the check and the wait.
                shared.sleepers.fetch_add(1, Ordering::SeqCst);
                if shared.epoch.load(Ordering::SeqCst) == seen && !shared.shutdown.load(Ordering::SeqCst) {
                    drop(shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner()));
                } else {
                    drop(guard);
                }
                shared.sleepers.fetch_sub(1, Ordering::SeqCst);
                backoff = Backoff::new(WORKER_SPIN, WORKER_IDLE);
            }
        }
        seen = shared.epoch.load(Ordering::Acquire);
        let job = {
            let slot = shared.job.lock().unwrap_or_else(|e| e.into_inner());
            match *slot {
                Some(job) if job.epoch > done => {
                    if !job.all {
                        // Counted while the slot is locked, so the caller, which closes the
                        // slot under the same lock before waiting, cannot miss this worker.
                        shared.active.fetch_add(1, Ordering::AcqRel);
                    }
                    Some(job)
                }
                _ => None,
            }
        };
        if let Some(job) = job {
            done = job.epoch;
            (job.f)(index);
            finish(shared, if job.all { &shared.pending } else { &shared.active });
        }
    }
}

/// A worker is done with the current job: counts down `count` and, if that was the last one
/// and the caller sleeps, wakes it. Nothing of the job is touched after the count-down.
fn finish(shared: &Shared, count: &AtomicUsize) {
    if count.fetch_sub(1, Ordering::SeqCst) == 1 && shared.caller_sleeps.load(Ordering::SeqCst) {
        // Taking the lock orders this after the caller's check-and-wait.
        let _g = shared.done_lock.lock().unwrap_or_else(|e| e.into_inner());
        shared.done.notify_all();
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        {
            let _g = self.shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.shutdown.store(true, Ordering::SeqCst);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ThreadPool({} threads)", self.n_threads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_runs_once_per_job() {
        let pool = ThreadPool::new(3);
        for _ in 0..1000 {
            let hits: Vec<AtomicUsize> = (0..pool.n_threads()).map(|_| AtomicUsize::new(0)).collect();
            pool.run(&|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn chunks_cover_everything_once_between_static_jobs() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            for n in [0usize, 1, 5, 31, 32, 33, 1000] {
                for chunk in [1, 4, 64] {
                    let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                    pool.for_each_chunk(n, chunk, &|r| {
                        assert!(r.len() <= chunk && !r.is_empty());
                        for i in r {
                            seen[i].fetch_add(1, Ordering::Relaxed);
                        }
                    });
                    assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1), "n={n} chunk={chunk}");
                    // An all-threads job right after still reaches every index exactly once.
                    let hits: Vec<AtomicUsize> = (0..pool.n_threads()).map(|_| AtomicUsize::new(0)).collect();
                    pool.run(&|i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
                }
            }
        }
    }

    #[test]
    fn sleeping_callers_and_workers_are_woken() {
        // Slow shares make the caller sleep; idle gaps make the workers sleep; more threads
        // than cores make everyone yield. Every job must still complete, exactly once each.
        let pool = ThreadPool::new(6);
        for round in 0..60 {
            let hits: Vec<AtomicUsize> = (0..pool.n_threads()).map(|_| AtomicUsize::new(0)).collect();
            pool.run(&|i| {
                if i == round % 6 && round % 3 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "round {round}");
            let seen: Vec<AtomicUsize> = (0..50).map(|_| AtomicUsize::new(0)).collect();
            pool.for_each_chunk(50, 3, &|r| {
                if r.start == 0 && round % 4 == 1 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                for i in r {
                    seen[i].fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1), "round {round}");
            if round % 5 == 2 {
                std::thread::sleep(WORKER_IDLE * 3);
            }
        }
    }

    #[test]
    fn ranges_cover_everything_once() {
        let pool = ThreadPool::new(2);
        for n in [0usize, 1, 5, 31, 32, 33, 1000] {
            let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            pool.for_each_range(n, 4, &|r| {
                for i in r {
                    seen[i].fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1), "n={n}");
        }
    }
}
