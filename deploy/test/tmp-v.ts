import { validateObjects } from '/work/main/deploy/test/validate.ts';
import { helmTemplate } from '/work/main/deploy/test/render.ts';
const objs = await helmTemplate();
validateObjects(objs);
console.log('ok', objs.length);
const bad = structuredClone(objs.find(o => o.kind === 'Deployment')!) as any;
bad.spec.replicas = 'two';
bad.spec.template.spec.containers[0].bogus = 1;
try { validateObjects([bad]); } catch (e) { console.log('bad ->', (e as Error).message.slice(0, 300)); }
try { validateObjects([{apiVersion: 'x/v1', kind: 'Foo', metadata: {name: 'a'}}]); } catch (e) { console.log('unk ->', (e as Error).message); }
