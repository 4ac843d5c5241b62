// A second reporter for the suite (scripts/run-tests.mjs): at the end, the slowest test files by the summed
// duration of their top-level tests, so the suite's time budget can be watched from CI's output.
export default async function* fileTimes(source) {
  const byFile = new Map();
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      byFile.set(event.data.file, (byFile.get(event.data.file) ?? 0) + (event.data.details?.duration_ms ?? 0));
    }
  }
  const rows = [...byFile].sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((sum, [, ms]) => sum + ms, 0);
  yield `\nrun-tests: slowest test files (sum of top-level test durations; all files ${(total / 1000).toFixed(0)} s)\n`;
  for (const [file, ms] of rows.slice(0, 15)) {
    yield `  ${(ms / 1000).toFixed(1).padStart(7)} s  ${file.replace(/^.*?\/dist\//, 'dist/')}\n`;
  }
}
