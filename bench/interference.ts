/**
 * How much CPU other processes took while a measurement ran: the machine's busy time (from
 * /proc/stat) minus this process's own and that of its finished children (from /proc/self/stat).
 * On a shared machine this is the honest error bar of every figure: a measurement during which
 * other processes kept a core busy is a measurement of a smaller machine.
 */
import { readFileSync } from 'node:fs';

/** CPU ticks (USER_HZ) so far: all cores' busy time, and ours including waited-for children. */
interface Ticks {
  machineBusy: number;
  ours: number;
  at: number;
}

function readTicks(): Ticks {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  const t = cpu.map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  const machineBusy = t.slice(0, 8).reduce((a, b) => a + b, 0) - t[3] - t[4];
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime are fields 14 to 17 (1-based), 11 to 14 after the name.
  const ours = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return { machineBusy, ours, at: performance.now() };
}

/** Starts a window; the returned function gives the cores others kept busy, on average, since. */
export function watchInterference(): () => number {
  const start = readTicks();
  return () => {
    const end = readTicks();
    const seconds = (end.at - start.at) / 1e3;
    if (seconds <= 0) return 0;
    const others = end.machineBusy - start.machineBusy - (end.ours - start.ours);
    // USER_HZ is 100 on every Linux build that Node supports.
    return Math.max(0, others / 100 / seconds);
  };
}

/** Cores other processes keep busy, measured over `ms` milliseconds while this process sleeps. */
export function othersBusyNow(ms = 500): number {
  const others = watchInterference();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return others();
}
