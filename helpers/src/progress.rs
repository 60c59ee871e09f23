//! Progress of a training run for people: a line per epoch, and within a long epoch a line at
//! most every few seconds, each with an estimate of the time left.

use crate::history::EpochStats;
use std::io::Write;
use std::time::{Duration, Instant};

/// What a training run reports as it goes: [`ProgressPrinter`] prints it; `()` says nothing.
pub trait Report {
    /// Step `step` (1-based) of epoch `epoch` is done.
    fn step_done(&mut self, _epoch: usize, _step: usize) {}
    /// An epoch finished, with these figures.
    fn epoch_done(&mut self, _stats: &EpochStats) {}
}

impl Report for () {}

/// Seconds between two progress lines within an epoch.
const EVERY: Duration = Duration::from_secs(5);

/// Prints the progress of `epochs` epochs of `steps` optimiser steps each.
#[derive(Debug)]
pub struct ProgressPrinter {
    epochs: usize,
    steps: usize,
    start: Instant,
    last: Instant,
}

impl ProgressPrinter {
    /// A printer for a run that starts now.
    pub fn new(epochs: usize, steps: usize) -> Self {
        let now = Instant::now();
        ProgressPrinter {
            epochs,
            steps: steps.max(1),
            start: now,
            last: now,
        }
    }

    /// "about 12 s left" after `done` of all the run's steps.
    fn time_left(&self, done: usize) -> String {
        let total = self.epochs * self.steps;
        let elapsed = self.start.elapsed().as_secs_f64();
        let left = elapsed / done.max(1) as f64 * total.saturating_sub(done) as f64;
        if done >= total {
            return "done".into();
        }
        match left {
            s if s < 90.0 => format!("about {s:.0} s left"),
            s => format!("about {:.1} min left", s / 60.0),
        }
    }

    /// Sends the line now (evcxr shows stdout line by line) and restarts the interval.
    fn flush(&mut self) {
        let _ = std::io::stdout().flush();
        self.last = Instant::now();
    }
}

impl Report for ProgressPrinter {
    /// Step `step` (1-based) of epoch `epoch` is done: prints a line if the last was a while ago.
    fn step_done(&mut self, epoch: usize, step: usize) {
        if self.last.elapsed() < EVERY || step >= self.steps {
            return;
        }
        let done = (epoch - 1) * self.steps + step;
        println!(
            "  epoch {epoch}/{}: {:>3.0}% of batches, {}",
            self.epochs,
            100.0 * step as f64 / self.steps as f64,
            self.time_left(done)
        );
        self.flush();
    }

    /// An epoch finished: prints its figures.
    fn epoch_done(&mut self, s: &EpochStats) {
        println!(
            "epoch {}/{}: loss {:.4}, accuracy {:.2}% | validation loss {:.4}, accuracy {:.2}% | {:.1} s, {}",
            s.epoch, self.epochs, s.train_loss, s.train_accuracy, s.val_loss, s.val_accuracy,
            s.seconds, self.time_left(s.epoch * self.steps)
        );
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_the_rest_from_the_pace_so_far() {
        let mut p = ProgressPrinter::new(2, 10);
        p.start = Instant::now() - Duration::from_secs(10);
        assert_eq!(p.time_left(5), "about 30 s left");
        assert_eq!(p.time_left(20), "done");
        p.start = Instant::now() - Duration::from_secs(100);
        assert_eq!(p.time_left(10), "about 1.7 min left");
    }
}
