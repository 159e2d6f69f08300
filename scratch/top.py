import json,sys,collections
p=json.load(open(sys.argv[1]))
nodes={n['id']:n for n in p['nodes']}
self_t=collections.Counter()
dt=p['timeDeltas']; samples=p['samples']
for s,d in zip(samples,dt):
    n=nodes[s]; cf=n['callFrame']
    self_t[(cf['functionName'] or '(anon)', cf['url'].split('/')[-1], cf['lineNumber'])]+=d
tot=sum(self_t.values())
for (f,u,l),t in self_t.most_common(30):
    print(f"{t/tot*100:5.1f}% {f} {u}:{l}")
# inclusive by url
inc=collections.Counter()
parent={}
for n in p['nodes']:
    for c in n.get('children',[]): parent[c]=n['id']
for s,d in zip(samples,dt):
    seen=set(); cur=s
    while cur is not None:
        cf=nodes[cur]['callFrame']; key=(cf['functionName'],cf['url'].split('/')[-1])
        if key not in seen: inc[key]+=d; seen.add(key)
        cur=parent.get(cur)
print('--- inclusive')
for (f,u),t in inc.most_common(45):
    if u.endswith('.ts'): print(f"{t/tot*100:5.1f}% {f} {u}")
