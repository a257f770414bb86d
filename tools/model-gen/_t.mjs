import { loadModel, greedy, forward, logitsAt, argmax } from './ort-reference.mjs';
const m = await loadModel('/work/main/models/generated/tiny');
console.log(m.session.inputNames, m.session.outputNames.length);
const toks = await greedy(m, [1, 15043, 3186].map(x=>x%4096), 20);
console.log(toks.join(' '));
const out = await forward(m, [[1,5,6,7]], [[1,1,1,1]], [[0,1,2,3]]);
const l = logitsAt(out,0,3); let mn=Infinity,mx=-Infinity,s=0; for(const v of l){mn=Math.min(mn,v);mx=Math.max(mx,v);s+=v*v}; console.log(mn,mx,Math.sqrt(s/l.length), out['present.0.key'].dims);
