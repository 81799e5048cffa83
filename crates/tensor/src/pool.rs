//! A persistent thread pool for data-parallel ops.
//!
//! One job at a time: `run(f)` hands `f(thread_index)` to every thread (the caller is thread 0)
//! and returns when all have finished. Workers spin briefly on an epoch counter before they
//! sleep, because a decoder issues hundreds of small jobs per token and a condvar wake-up per
//! job would dominate. The job closure borrows from the caller's stack; that is sound because
//! `run` does not return before every worker is done with it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

type JobRef = &'static (dyn Fn(usize) + Sync);

struct Shared {
    epoch: AtomicU64,
    pending: AtomicUsize,
    shutdown: AtomicBool,
    job: Mutex<Option<JobRef>>,
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
        // SAFETY: the 'static lifetime is a lie told only to the workers: this function does not
        // return (and so `f` stays alive) until `pending` reaches zero, which every worker
        // signals after its last use of the reference; the slot is cleared before returning.
        let job: JobRef = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), JobRef>(f) };
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job);
        self.shared.pending.store(self.workers.len(), Ordering::SeqCst);
        {
            let _g = self.shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.epoch.fetch_add(1, Ordering::SeqCst);
            self.shared.wake.notify_all();
        }
        f(0);
        while self.shared.pending.load(Ordering::Acquire) != 0 {
            std::hint::spin_loop();
        }
        *self.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
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
    let mut seen = 0u64;
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
        let job = *shared.job.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(job) = job {
            job(index);
        }
        shared.pending.fetch_sub(1, Ordering::AcqRel);
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
