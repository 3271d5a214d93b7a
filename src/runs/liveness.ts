/**
 * Is the process that owns a `running` run still there? A run whose process was SIGKILLed (or
 * crashed, or lost its machine) never gets to write its final status; the store asks this question
 * each time it is read and marks such runs `interrupted`.
 *
 * The rule:
 * - Same host: the run's pid is checked with `process.kill(pid, 0)`. No such process means dead.
 *   Pids are reused, so on Linux the store also records the process's start time
 *   (`/proc/<pid>/stat`, field 22, with the boot id) and a live pid that started at another time
 *   is a different process: dead too.
 * - Another host (a store on a disk two machines see): the pid says nothing here, so the run is
 *   dead when its heartbeat is older than `staleAfterMs` (default 10 minutes). A running run
 *   beats every `heartbeatMs` (default 10 s) while it logs metrics and from a timer between.
 *
 * LIMITATION: two containers with the same hostname and separate pid namespaces writing one store
 * would judge each other's pids; give them distinct hostnames.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Who owns a run: enough to tell later whether that process is still alive. */
export interface ProcessIdentity {
  pid: number;
  hostname: string;
  /** `<boot id>:<start ticks>` on Linux; null where it cannot be read. */
  startId: string | null;
}

/** The identity of this process. */
export function currentProcess(): ProcessIdentity {
  return { pid: process.pid, hostname: os.hostname(), startId: processStartId(process.pid) };
}

/** The start id of `pid` (Linux), or null when unknown or the process is gone. */
export function processStartId(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command name) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = fields[19]; // field 22 of the whole line; fields[0] is field 3
    if (startTicks === undefined) return null;
    return `${bootId()}:${startTicks}`;
  } catch {
    return null;
  }
}

/** Whether a process with `pid` exists on this host (one owned by another user counts). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What `judgeRunning` needs from a run's row. */
export interface RunOwner {
  pid: number | null;
  hostname: string | null;
  pidStart: string | null;
  /** ISO time of the last heartbeat (or of the start). */
  heartbeatAt: string | null;
}

/**
 * Null when the owner of a running run may still be alive, else why it is not (a sentence for the
 * run's `error` field).
 */
export function whyOwnerIsGone(
  owner: RunOwner,
  nowMs: number,
  staleAfterMs: number,
): string | null {
  const here = os.hostname();
  if (owner.pid !== null && owner.hostname === here) {
    if (!isPidAlive(owner.pid)) {
      return `process ${owner.pid} on ${here} is gone (killed or crashed) before the run ended`;
    }
    if (owner.pidStart !== null) {
      const start = processStartId(owner.pid);
      if (start !== null && start !== owner.pidStart) {
        return (
          `process ${owner.pid} on ${here} is gone (killed or crashed); ` +
          'its pid now belongs to another process'
        );
      }
    }
    return null;
  }
  const beat = owner.heartbeatAt === null ? Number.NaN : Date.parse(owner.heartbeatAt);
  if (Number.isNaN(beat) || nowMs - beat > staleAfterMs) {
    return (
      `no heartbeat from process ${owner.pid} on ${owner.hostname} since ` +
      `${owner.heartbeatAt ?? 'the start'} (more than ${Math.round(staleAfterMs / 1000)} s)`
    );
  }
  return null;
}

let cachedBootId: string | null = null;

function bootId(): string {
  if (cachedBootId === null) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = 'unknown-boot';
    }
  }
  return cachedBootId;
}
