/**
 * LevelDB's own account of its background work, from its `leveldb.stats` property: per level, the tables there and
 * their size, and the compactions that wrote into that level (time, MB read and written; a memtable flush counts at
 * the level its table went to). Summed over the levels here. LevelDB prints whole MB and whole seconds per level, so
 * a figure is good to about one unit per level: meant for long runs (see docs/performance.md, "Longer runs"), where
 * compaction is most of what LevelDB does.
 */

export interface LevelDbStats {
  /** Tables in all levels, and their size in MB. */
  files: number;
  sizeMb: number;
  /** Time spent flushing and compacting, in seconds, and the MB those read and wrote (since the database opened). */
  compactionSec: number;
  readMb: number;
  writtenMb: number;
}

const ROW = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/;

/** The sums of `leveldb.stats`'s table; undefined when the text is not that table (another LevelDB's format). */
export function parseLevelDbStats(text: string): LevelDbStats | undefined {
  const lines = text.split('\n');
  const header = lines.findIndex((l) => /^Level\s+Files\s+Size\(MB\)\s+Time\(sec\)\s+Read\(MB\)\s+Write\(MB\)\s*$/.test(l));
  if (header < 0) return undefined;
  const s: LevelDbStats = { files: 0, sizeMb: 0, compactionSec: 0, readMb: 0, writtenMb: 0 };
  for (const line of lines.slice(header + 2)) {
    if (line.trim() === '') continue;
    const m = ROW.exec(line);
    if (m === null) return undefined;
    s.files += Number(m[2]);
    s.sizeMb += Number(m[3]);
    s.compactionSec += Number(m[4]);
    s.readMb += Number(m[5]);
    s.writtenMb += Number(m[6]);
  }
  return s;
}

/** The work done between two readings (compactions, reads, writes), and the database as at the second. */
export function levelDbDelta(before: LevelDbStats, after: LevelDbStats): LevelDbStats {
  return {
    files: after.files,
    sizeMb: after.sizeMb,
    compactionSec: after.compactionSec - before.compactionSec,
    readMb: after.readMb - before.readMb,
    writtenMb: after.writtenMb - before.writtenMb,
  };
}
