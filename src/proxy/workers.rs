//! The data plane's threads: one single-threaded Tokio runtime per core, as
//! nginx runs one worker process per core. A connection is accepted on the
//! control runtime and then lives on one worker with everything it starts
//! (the request's task, the upstream connections it opens), so serving a
//! request never wakes another thread.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;

thread_local! {
    /// The index of the worker this thread is, if it is one.
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index of the worker running the caller, or 0 off the workers.
pub fn current() -> usize {
    WORKER.with(Cell::get).unwrap_or(0)
}

/// How many workers to start when the config does not say: one per CPU
/// the process may use.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `count` worker threads. They run until the process exits.
    pub fn start(count: usize) -> Result<Workers, String> {
        let mut handles = Vec::with_capacity(count);
        for index in 0..count.max(1) {
            let (started, handle) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name(format!("eap-worker-{index}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(Some(index)));
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => {
                            let _ = started.send(Ok(runtime.handle().clone()));
                            runtime.block_on(std::future::pending::<()>());
                        }
                        Err(e) => {
                            let _ = started.send(Err(e.to_string()));
                        }
                    }
                })
                .map_err(|e| format!("cannot start worker thread {index}: {e}"))?;
            let handle = handle
                .recv()
                .map_err(|_| format!("worker thread {index} ended before it started"))?
                .map_err(|e| format!("cannot start the runtime of worker {index}: {e}"))?;
            handles.push(handle);
        }
        Ok(Workers {
            handles,
            next: AtomicUsize::new(0),
        })
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The worker for the next connection, in turn.
    pub fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_their_worker_and_know_it() {
        let workers = Workers::start(3).unwrap();
        assert_eq!(workers.len(), 3);
        let control = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut seen = Vec::new();
        for _ in 0..6 {
            let task = workers.next().spawn(async {
                // What a task spawns stays on its worker.
                let inner = tokio::spawn(async { current() }).await.unwrap();
                (
                    current(),
                    inner,
                    std::thread::current().name().map(str::to_owned),
                )
            });
            seen.push(control.block_on(task).unwrap());
        }
        let indices: Vec<usize> = seen.iter().map(|s| s.0).collect();
        assert_eq!(indices, [0, 1, 2, 0, 1, 2]);
        for (index, inner, name) in seen {
            assert_eq!(index, inner);
            assert_eq!(name.unwrap(), format!("eap-worker-{index}"));
        }
        assert_eq!(current(), 0);
    }
}
