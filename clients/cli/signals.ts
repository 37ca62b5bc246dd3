/**
 * Ctrl-C / SIGTERM handling for long-running commands: the first signal asks for a clean stop.
 * `npm run` forwards the terminal's SIGINT once more, so repeats within a moment are ignored; a
 * later one asks again (commands use it to cut a wait short), and a third forces the exit.
 */
const REPEAT_WINDOW_MS = 1500;

export function onStopSignals(stop: (count: number) => void): () => void {
  let count = 0;
  let last = 0;
  const handler = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (count > 0 && now - last < REPEAT_WINDOW_MS) return;
    last = now;
    count++;
    if (count >= 3) {
      process.stderr.write(`\n${signal} again: exiting now\n`);
      process.exit(130);
    }
    stop(count);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** An AbortSignal that fires on the first stop signal (and a second one for the next). */
export function stopSignals(): { first: AbortSignal; second: AbortSignal; dispose: () => void } {
  const first = new AbortController();
  const second = new AbortController();
  const dispose = onStopSignals((n) => (n === 1 ? first : second).abort());
  return { first: first.signal, second: second.signal, dispose };
}
