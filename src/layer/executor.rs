//! A ready-queue executor on the current rayon pool: each node runs as
//! soon as every node it depends on has finished, so independent work runs
//! in parallel. Results are returned in node order, never completion order.
//! After a failure no new node starts; the failure of the first node in
//! node order is returned.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Finished results, readable by the jobs that depend on them.
pub(crate) struct Done<T> {
    results: Vec<OnceLock<T>>,
}

impl<T> Done<T> {
    /// The result of `node`, which must be a dependency of the caller.
    pub(crate) fn get(&self, node: usize) -> Option<&T> {
        self.results.get(node)?.get()
    }
}

struct State<'a, T, E, F> {
    deps_left: Vec<AtomicUsize>,
    dependents: Vec<Vec<usize>>,
    done: Done<T>,
    errors: Mutex<Vec<(usize, E)>>,
    job: &'a F,
}

/// Runs node `i` once all of `deps[i]` are done; `deps` must be acyclic.
pub(crate) fn execute<T, E, F>(deps: &[Vec<usize>], job: &F) -> Result<Vec<T>, E>
where
    T: Send + Sync,
    E: Send,
    F: Fn(usize, &Done<T>) -> Result<T, E> + Sync,
{
    let mut dependents = vec![Vec::new(); deps.len()];
    for (node, node_deps) in deps.iter().enumerate() {
        for &dep in node_deps {
            dependents[dep].push(node);
        }
    }
    let state = State {
        deps_left: deps.iter().map(|d| AtomicUsize::new(d.len())).collect(),
        dependents,
        done: Done { results: deps.iter().map(|_| OnceLock::new()).collect() },
        errors: Mutex::new(Vec::new()),
        job,
    };
    rayon::scope(|scope| {
        for node in (0..deps.len()).filter(|&n| deps[n].is_empty()) {
            spawn(scope, &state, node);
        }
    });
    let mut errors = state.errors.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    errors.sort_by_key(|(node, _)| *node);
    if let Some((_, error)) = errors.into_iter().next() {
        return Err(error);
    }
    Ok(state.done.results.into_iter().filter_map(OnceLock::into_inner).collect())
}

fn spawn<'s, T, E, F>(scope: &rayon::Scope<'s>, state: &'s State<'_, T, E, F>, node: usize)
where
    T: Send + Sync,
    E: Send,
    F: Fn(usize, &Done<T>) -> Result<T, E> + Sync,
{
    scope.spawn(move |scope| match (state.job)(node, &state.done) {
        Ok(result) => {
            let _ = state.done.results[node].set(result);
            for &next in &state.dependents[node] {
                if state.deps_left[next].fetch_sub(1, Ordering::AcqRel) == 1 {
                    spawn(scope, state, next);
                }
            }
        }
        Err(error) => {
            state.errors.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((node, error));
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::execute;

    #[test]
    fn runs_dependencies_first_and_returns_in_node_order() {
        // 0 and 1 are independent; 2 needs both; 3 needs 2.
        let deps = vec![vec![], vec![], vec![0, 1], vec![2]];
        let order = AtomicUsize::new(0);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        let out = pool
            .install(|| {
                execute(&deps, &|node, done: &super::Done<(usize, usize)>| {
                    for &d in &deps[node] {
                        assert!(done.get(d).is_some(), "{node} ran before {d}");
                    }
                    Ok::<_, ()>((node, order.fetch_add(1, Ordering::SeqCst)))
                })
            })
            .unwrap();
        assert_eq!(out.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(out[3].1, 3);
    }

    #[test]
    fn reports_the_first_failure_in_node_order_and_skips_dependents() {
        let deps = vec![vec![], vec![], vec![0]];
        let ran = AtomicUsize::new(0);
        let result = execute(&deps, &|node, _: &super::Done<()>| {
            ran.fetch_add(1, Ordering::SeqCst);
            if node < 2 { Err(node) } else { Ok(()) }
        });
        assert_eq!(result, Err(0));
        assert_eq!(ran.load(Ordering::SeqCst), 2, "node 2 ran after its dependency failed");
    }
}
