//! A persistent thread pool for data-parallel ops.
//!
//! One job at a time: `run(f)` hands `f(thread_index)` to every thread (the caller is thread 0)
//! and returns when all have finished. Workers spin briefly on an epoch counter before they
//! sleep, because a decoder issues hundreds of small jobs per token and a condvar wake-up per
//! job would dominate. The job closure borrows from the caller's stack; that is sound because
//! `run` does not return before every worker is done with it.
//!
//! `for_each_chunk` is the dynamic variant: items are claimed in chunks from a shared counter by
//! whichever threads are running, and the caller closes the job once the counter is exhausted,
//! so a worker the OS has not scheduled (a busy or shared machine) is simply left out instead
//! of stalling the whole op; the caller then waits only for workers that did join.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

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
    sleep_lock: Mutex<()>,
    wake: Condvar,
}

/// A fixed set of worker threads. `n_threads` counts the calling thread.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    n_threads: usize,
    busy: Mutex<()>,
}

const SPIN_ROUNDS: u32 = 20_000;

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
        while self.shared.pending.load(Ordering::Acquire) != 0 {
            std::hint::spin_loop();
        }
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
        let _g = self.shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.epoch.store(epoch, Ordering::SeqCst);
        self.shared.wake.notify_all();
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
        while self.shared.active.load(Ordering::Acquire) != 0 {
            std::hint::spin_loop();
        }
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
        let mut spins = 0;
        loop {
            if shared.shutdown.load(Ordering::Acquire) {
                return;
            }
            if shared.epoch.load(Ordering::Acquire) != seen {
                break;
            }
            if spins < SPIN_ROUNDS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                let guard = shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
                if shared.epoch.load(Ordering::Acquire) == seen && !shared.shutdown.load(Ordering::Acquire) {
                    drop(shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner()));
                }
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
            if job.all {
                shared.pending.fetch_sub(1, Ordering::AcqRel);
            } else {
                shared.active.fetch_sub(1, Ordering::AcqRel);
            }
        }
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
