/**
 * A real call for fault tests: werift participants publishing tones through a real relay, and a loss
 * meter over a time window computed from the participants' own statsEvent() (RFC 3550 sequence
 * accounting in src/client/receive-stats.ts).
 */
import assert from "node:assert/strict";
import { Participant, parseAudioSource, resolveFfmpeg, type PeerStats } from "../../src/index.js";
import { waitFor } from "../helpers/util.js";

export const ffmpegPath = resolveFfmpeg().path;

/** Joins `names.length` members to `invite`, each publishing a distinct tone, and waits until all hear all. */
export async function startCall(invite: string, memberNames: string[], cleanups: (() => Promise<void> | void)[]): Promise<Participant[]> {
  const members: Participant[] = [];
  for (const [i, name] of memberNames.entries()) {
    const p = await Participant.join(invite, { name, ffmpeg: ffmpegPath, statsIntervalMs: 0 });
    cleanups.push(() => p.close());
    names.set(p, name);
    await p.publish(parseAudioSource(`tone:${300 + 110 * i}`));
    members.push(p);
  }
  await everyoneHears(members, 10_000);
  return members;
}

export async function everyoneHears(members: Participant[], timeoutMs: number): Promise<void> {
  for (const p of members) {
    await waitFor(() => members.every((o) => o === p || p.heard.includes(o.peerId)), timeoutMs, `${p.peerId} to hear every other member`);
  }
}

const names = new WeakMap<Participant, string>();

function name(p: Participant): string {
  return names.get(p) ?? p.peerId;
}

function peerStats(listener: Participant, speaker: Participant): PeerStats | undefined {
  const e = listener.statsEvent();
  return e.type === "stats" ? e.peers.find((s) => s.peerId === speaker.peerId) : undefined;
}

export interface LossReport {
  received: number;
  lost: number;
  /** Lost / expected over the window, in percent. */
  lossPct: number;
  /** Pairs (listener ← speaker) that received nothing in the window: a call that did not survive. */
  silentPairs: string[];
  decryptFailures: number;
  /** Pairs that lost packets in the window: "listener<-speaker": lost. */
  lossyPairs: Record<string, number>;
}

export interface LossMeter {
  /** Waits until every pair has received `packets` more packets than at the start (20 ms each). */
  waitForPackets(packets: number, timeoutMs: number): Promise<void>;
  stop(): LossReport;
}

/** Starts measuring every listener ← speaker pair among `members`; `stop()` reports the window. */
export function lossMeter(members: Participant[]): LossMeter {
  const pairs = members.flatMap((l) => members.filter((s) => s !== l).map((s) => [l, s] as const));
  const start = pairs.map(([l, s]) => {
    const st = peerStats(l, s);
    return { received: st?.packetsReceived ?? 0, lost: st?.packetsLost ?? 0, failures: st?.decryptFailures ?? 0 };
  });
  return {
    async waitForPackets(packets, timeoutMs) {
      const short = (): string[] =>
        pairs.flatMap(([l, s], i) => {
          const got = (peerStats(l, s)?.packetsReceived ?? 0) - start[i]!.received;
          return got >= packets ? [] : [`${name(l)}<-${name(s)}: ${got}`];
        });
      await waitFor(() => short().length === 0, timeoutMs, `every member to receive ${packets} more packets from every other`).catch((err: Error) => {
        throw new Error(`${err.message} (short: ${short().join(", ")})`);
      });
    },
    stop() {
      let received = 0;
      let lost = 0;
      let decryptFailures = 0;
      const silentPairs: string[] = [];
      const lossyPairs: Record<string, number> = {};
      pairs.forEach(([l, s], i) => {
        const st = peerStats(l, s);
        const r = (st?.packetsReceived ?? 0) - start[i]!.received;
        received += r;
        const pairLost = Math.max(0, (st?.packetsLost ?? 0) - start[i]!.lost);
        lost += pairLost;
        if (pairLost > 0) lossyPairs[`${name(l)}<-${name(s)}`] = pairLost;
        decryptFailures += (st?.decryptFailures ?? 0) - start[i]!.failures;
        if (r === 0) silentPairs.push(`${name(l)}<-${name(s)}`);
      });
      const expected = received + lost;
      return { received, lost, lossPct: expected > 0 ? Math.round((lost / expected) * 10_000) / 100 : 0, silentPairs, decryptFailures, lossyPairs };
    },
  };
}

/** The one-line JSON summary every fault test prints: faults injected, calls that survived, packets lost. */
export function printSummary(test: string, faultsInjected: number, report: LossReport, extra: Record<string, unknown> = {}): void {
  const callsSurvived = report.silentPairs.length === 0 && report.lossPct < 1 ? 1 : 0;
  console.log(
    JSON.stringify({
      test,
      faultsInjected,
      callsSurvived,
      packetsLost: report.lost,
      packetsReceived: report.received,
      lossPct: report.lossPct,
      lossyPairs: report.lossyPairs,
      ...extra,
    }),
  );
}

/** Every member kept hearing every other, below 1% loss, and decrypted everything. */
export function assertCallHealthy(report: LossReport, what: string): void {
  assert.deepEqual(report.silentPairs, [], `${what}: some members stopped hearing others`);
  assert.ok(report.lossPct < 1, `${what}: loss ${report.lossPct}% (${report.lost} of ${report.received + report.lost})`);
  assert.equal(report.decryptFailures, 0, `${what}: members failed to decrypt each other`);
}
