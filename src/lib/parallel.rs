//! Work on many items with every core, deliver results in input order.
//!
//! Workers take the next index from a shared counter, so one huge module (amdgpu is 19 MiB)
//! does not stall the others as a fixed window would. The consumer reorders results; a worker
//! that gets more than `AHEAD` items ahead of the consumer waits, which bounds memory.
//!
//! Why not rayon: its ordered collect (`par_iter().map().collect()`) holds every result until
//! the last one is done, and `par_bridge` gives up order. The tools need both at once: output
//! streamed in argument order as soon as each result is ready (so `modinfo … | head` stops
//! early and the first lines appear at once), with memory bounded by a look-ahead window (a
//! decompressed module can be tens of MiB; 8000 of them cannot all be held).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

/// How far workers may run ahead of the consumer.
const AHEAD: usize = 64;

/// Applies `work` to every item and passes the results to `sink` in input order. `sink`
/// returning `false` stops the run early (a closed pipe). Uses up to `threads` workers; with one
/// thread or few items everything happens on the calling thread.
pub fn ordered<T, R, W, S>(items: &[T], threads: usize, work: W, mut sink: S)
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    S: FnMut(R) -> bool,
{
    if threads <= 1 || items.len() < 4 {
        for item in items {
            if !sink(work(item)) {
                return;
            }
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // Index of the next result the consumer wants; workers wait while too far ahead of it.
    let consumed = Mutex::new(0usize);
    let progressed = Condvar::new();
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, consumed, progressed, work) =
                (&next, &stop, &consumed, &progressed, &work);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() || stop.load(Ordering::Relaxed) {
                        return;
                    }
                    {
                        let mut done = consumed.lock().unwrap_or_else(|p| p.into_inner());
                        while i >= *done + AHEAD && !stop.load(Ordering::Relaxed) {
                            done = progressed.wait(done).unwrap_or_else(|p| p.into_inner());
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if tx.send((i, work(&items[i]))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut want = 0usize;
        for (i, r) in rx.iter() {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&want) {
                want += 1;
                if !sink(r) {
                    stop.store(true, Ordering::Relaxed);
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            *consumed.lock().unwrap_or_else(|p| p.into_inner()) = want;
            progressed.notify_all();
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        // Wake any waiting worker so the scope can end.
        stop.store(true, Ordering::Relaxed);
        progressed.notify_all();
        drop(rx);
    });
}

/// The number of worker threads to use: the CPUs available to this process.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_in_order() {
        let items: Vec<u64> = (0..1000).collect();
        let mut got = Vec::new();
        ordered(
            &items,
            4,
            |&x| {
                // Uneven work so completion order differs from input order.
                if x % 97 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                x * 2
            },
            |r| {
                got.push(r);
                true
            },
        );
        assert_eq!(got, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn the_sink_can_stop_early() {
        let items: Vec<u32> = (0..10_000).collect();
        let mut n = 0;
        ordered(
            &items,
            2,
            |&x| x,
            |_| {
                n += 1;
                n < 10
            },
        );
        assert_eq!(n, 10);
    }
}
