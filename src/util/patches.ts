/**
 * Which of Parallax's patches to library prototypes (the interpreter's, the logs bloom's) this process has loaded.
 * They apply to every user of the library in the process, so the benchmark's reference engine, which must run the
 * library as published, checks here that none is loaded in its process (see bench/reference-jobs.ts).
 */
const LOADED = Symbol.for('parallax.libraryPatches');

type Registry = { [LOADED]?: string[] };

/** Record that the patch `name` (what it patches, and where) is installed in this process. */
export function notePatch(name: string): void {
  const g = globalThis as Registry;
  (g[LOADED] ??= []).push(name);
}

/** The patches installed in this process, in the order they were loaded. */
export function loadedPatches(): string[] {
  return [...((globalThis as Registry)[LOADED] ?? [])];
}
