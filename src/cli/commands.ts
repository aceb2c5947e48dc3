import type { Command } from "commander";
import type { Output } from "./output.js";
import { registerServe } from "./commands/serve.js";
import { registerRoom } from "./commands/room.js";
import { registerJoin } from "./commands/join.js";
import { registerRecord } from "./commands/record.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerId } from "./commands/id.js";
import { registerDemo } from "./commands/demo.js";
import { registerToken } from "./commands/token.js";
import { registerBots } from "./commands/bots.js";
import { registerLoadtest } from "./commands/loadtest.js";

export interface CliContext {
  setOutput(output: Output): void;
  debug: boolean;
}

export function registerCommands(program: Command, ctx: CliContext): void {
  registerServe(program, ctx);
  registerRoom(program, ctx);
  registerJoin(program, ctx);
  registerRecord(program, ctx);
  registerDoctor(program, ctx);
  registerId(program, ctx);
  registerDemo(program, ctx);
  registerToken(program, ctx);
  registerBots(program, ctx);
  registerLoadtest(program, ctx);
}
