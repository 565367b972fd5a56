#!/usr/bin/env node
// 0.6's `plancton-bootstrap user/repo[:branch]`, kept for the scripts that call it: `plancton bootstrap`.
import { exitWhenFlushed } from './exit.ts';
import { main } from './main.ts';

await exitWhenFlushed(await main(['bootstrap', ...process.argv.slice(2)], 'plancton'));
