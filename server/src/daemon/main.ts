/**
 * The daemon as a program of its own, until (and besides) `aad serve`:
 *
 *   node --import tsx server/src/daemon/main.ts --stdio | --socket [PATH]
 *       [--idle-timeout SECONDS] [--queue-capacity N]
 *       [--builtin | --sft FILE (--dpo FILE | --dpo-lora FILE) [--reference FILE]] [--context-size N]
 */
import type { LoadPairParams } from "../protocol/protocol.ts";
import { builtinPairParams } from "./runtime-engine.ts";
import { DaemonAlreadyRunningError, serve, SocketPathError, type ServeOptions, type TransportOptions } from "./index.ts";

const USAGE = "usage: main.ts --stdio | --socket [PATH]  [--idle-timeout SECONDS] [--queue-capacity N] [--builtin | --sft FILE (--dpo FILE | --dpo-lora FILE) [--reference FILE]] [--context-size N]";

class UsageError extends Error {}

function parseArguments(argv: readonly string[]): { transport: TransportOptions; options: ServeOptions } {
  let transport: TransportOptions | undefined;
  let idleTimeoutSeconds: number | null | undefined;
  const files: Record<string, string> = {};
  let contextSize: number | undefined;
  let capacity: number | undefined;
  let builtin = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined || next.startsWith("--")) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case "--stdio":
        transport = { transport: "stdio" };
        break;
      case "--socket": {
        const next = argv[i + 1];
        transport = next !== undefined && !next.startsWith("--") ? { transport: "socket", path: argv[++i]! } : { transport: "socket" };
        break;
      }
      case "--idle-timeout": {
        const seconds = Number(value());
        if (!(seconds >= 0 && Number.isFinite(seconds))) throw new UsageError("--idle-timeout needs a number of seconds (0: never)");
        idleTimeoutSeconds = seconds === 0 ? null : seconds;
        break;
      }
      case "--builtin":
        builtin = true;
        break;
      case "--sft":
      case "--dpo":
      case "--dpo-lora":
      case "--reference":
        files[arg.slice(2)] = value();
        break;
      case "--context-size":
        contextSize = Number(value());
        break;
      case "--queue-capacity":
        capacity = Number(value());
        if (!(Number.isInteger(capacity) && capacity >= 1)) throw new UsageError("--queue-capacity needs a whole number ≥ 1");
        break;
      default:
        throw new UsageError(`unknown argument ${arg}`);
    }
  }
  if (transport === undefined) throw new UsageError("choose --stdio or --socket [PATH]");
  let preload: LoadPairParams | undefined;
  if (builtin) {
    if (Object.keys(files).length > 0) throw new UsageError("--builtin loads the built-in pair: leave out --sft, --dpo, --dpo-lora and --reference");
    preload = builtinPairParams(contextSize === undefined ? {} : { contextSize });
  } else if (files["sft"] !== undefined) {
    preload = {
      sft: files["sft"],
      ...(files["dpo"] === undefined ? {} : { dpo: files["dpo"] }),
      ...(files["dpo-lora"] === undefined ? {} : { dpoLora: files["dpo-lora"] }),
      ...(files["reference"] === undefined ? {} : { reference: files["reference"] }),
      ...(contextSize === undefined ? {} : { contextSize }),
    };
  } else if (Object.keys(files).length > 0) throw new UsageError("--dpo, --dpo-lora and --reference need --sft");
  return {
    transport,
    options: {
      ...(idleTimeoutSeconds === undefined ? {} : { idleTimeoutSeconds }),
      ...(preload === undefined ? {} : { preload }),
      ...(capacity === undefined ? {} : { scheduler: { capacity } }),
    },
  };
}

try {
  const { transport, options } = parseArguments(process.argv.slice(2));
  const daemon = await serve(transport, options);
  process.exit(await daemon.done);
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`aad daemon: ${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (error instanceof DaemonAlreadyRunningError || error instanceof SocketPathError) {
    process.stderr.write(`aad daemon: ${error.message}\n`);
    process.exit(error instanceof DaemonAlreadyRunningError ? 3 : 1);
  }
  throw error;
}
