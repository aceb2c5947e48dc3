import { Option, type Command } from "commander";
import { loadIdentity, rotateIdentity } from "../../client/index.js";
import { fingerprint, safetyNumber, fromBase64Url } from "../../crypto/index.js";
import { UsageError } from "../../errors.js";
import { createOutput } from "../output.js";
import type { CliContext } from "../commands.js";

export function registerId(program: Command, ctx: CliContext): void {
  program
    .command("id")
    .description("show your identity fingerprint; --new rotates it; --peer KEY shows a safety number")
    .option("--new", "create a new identity (the old file is kept as .old)")
    .option("--identity <file>", "identity key file")
    .option("--peer <publicKey>", "a member's identity public key (base64url, from a peer-joined event): print your safety number with it")
    .addOption(new Option("--json", "write JSON lines"))
    .action(async (opts: { new?: boolean; identity?: string; peer?: string; json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      ctx.setOutput(out);
      const passphrase = process.env.CONCLAVE_PASSPHRASE;
      const base = { ...(opts.identity ? { path: opts.identity } : {}), ...(passphrase ? { passphrase } : {}) };
      const { identity, path } = opts.new ? await rotateIdentity(base) : await loadIdentity(base);
      const fp = fingerprint(identity.publicKey);
      const publicKey = Buffer.from(identity.publicKey).toString("base64url");
      let safety: string | undefined;
      if (opts.peer) {
        let peerKey: Uint8Array;
        try {
          peerKey = fromBase64Url(opts.peer);
        } catch {
          throw new UsageError("--peer must be a base64url Ed25519 public key (43 characters)");
        }
        if (peerKey.length !== 32) throw new UsageError("--peer must be a base64url Ed25519 public key (43 characters)");
        safety = safetyNumber(identity.publicKey, peerKey);
      }
      if (opts.json) {
        out.event({ type: "identity", path, fingerprint: fp, publicKey, ...(opts.new ? { rotated: true } : {}), ...(safety ? { safetyNumber: safety } : {}) });
      } else {
        process.stdout.write(`fingerprint: ${fp}\npublic key:  ${publicKey}\nfile:        ${path}\n`);
        if (safety) process.stdout.write(`safety number with ${opts.peer}:\n  ${safety}\n`);
      }
    });
}
