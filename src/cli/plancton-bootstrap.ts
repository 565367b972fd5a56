#!/usr/bin/env node
// 0.6's `plancton-bootstrap user/repo[:branch]`, kept for the scripts that call it: `plancton bootstrap`.
import { main } from './main.ts';

process.exit(await main(['bootstrap', ...process.argv.slice(2)], 'plancton'));
