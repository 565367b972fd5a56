#!/usr/bin/env node
import { exitWhenFlushed } from './exit.ts';
import { main } from './main.ts';

await exitWhenFlushed(await main(process.argv.slice(2), 'plancton'));
