# Lane-level numpy emulation of src/main/cuda/prefill_attention.cu: the mma.sync m16n8k16 and ldmatrix
# (.trans) fragment layouts as the PTX ISA defines them, the kernel's index arithmetic transcribed line
# by line, against a float64 softmax reference. It checks tiling, masks, fragment packing and the
# zero-fill of keys past the context on a machine without a GPU (run: python3 emulate_prefill_attention.py;
# prints ~2e-3 relative error per case, the bf16 level). Keep it in step with the kernel when editing either.
import numpy as np, sys
PF_WARPS=4; PF_ROWS=64; PF_KEYS=64
lane=np.arange(32); g=lane>>2; t2=(lane&3)*2
def bf16(x):
    x=np.ascontiguousarray(np.asarray(x,np.float32)); b=x.view(np.uint32).astype(np.uint64)
    b=((b+0x7FFF+((b>>16)&1))>>16)<<16
    return b.astype(np.uint32).view(np.float32)
def pack(lo,hi): return np.stack([bf16(lo),bf16(hi)],-1)  # [32,2]
def mma(c,a,b0,b1):
    A=np.zeros((16,16),np.float32); B=np.zeros((16,8),np.float32)
    for j in range(2):
        A[g,t2+j]=a[0][:,j]; A[g+8,t2+j]=a[1][:,j]; A[g,t2+8+j]=a[2][:,j]; A[g+8,t2+8+j]=a[3][:,j]
        B[t2+j,g]=b0[:,j]; B[t2+8+j,g]=b1[:,j]
    C=np.zeros((16,8),np.float32)
    for j in range(2): C[g,t2+j]=c[:,j]; C[g+8,t2+j]=c[:,2+j]
    C=(A.astype(np.float64)@B.astype(np.float64)+C).astype(np.float32)
    out=np.zeros((32,4),np.float32)
    for j in range(2): out[:,j]=C[g,t2+j]; out[:,2+j]=C[g+8,t2+j]
    return out
def ldm(smem,rows,cols,trans=False):
    regs=[]
    for i in range(4):
        M=np.stack([smem[rows[8*i+r],cols[8*i+r]:cols[8*i+r]+8] for r in range(8)])
        if trans: M=M.T
        regs.append(np.stack([M[g,t2],M[g,t2+1]],-1))
    return regs
def quad(x,op):  # reduce over the 4 lanes of a quad, broadcast back
    y=x.reshape(8,4); r=op(y,axis=1); return np.repeat(r,4)
def kernel(HD,q,kc,vc,positions,tables,tiles,maxPages,pageSize,numHeads,numKvHeads,scaleLog2,out,numTiles):
    KSTEPS=HD//16; DFRAGS=HD//8; SFRAGS=PF_KEYS//8
    for bx in range(numTiles):
      for kvHead in range(numKvHeads):
        seq,firstToken,tileTokens=tiles[bx*4],tiles[bx*4+1],tiles[bx*4+2]
        group=numHeads//numKvHeads; table=tables[seq*maxPages:(seq+1)*maxPages]
        firstPos=positions[firstToken]; numKeys=positions[firstToken+tileTokens-1]+1
        pageShift=(pageSize&-pageSize).bit_length()-1 if (pageSize&(pageSize-1))==0 else -1
        kT=np.full((PF_KEYS,HD+8),np.nan,np.float32); vT=kT.copy()
        def load(tile,cache,keyStart):
            CH=HD//8
            for c in range(PF_KEYS*CH):
                row=c//CH; col=(c%CH)*8; key=keyStart+row
                if key<numKeys:
                    page=key>>pageShift if pageShift>=0 else key//pageSize
                    slot=table[page]*pageSize+(key-page*pageSize)
                    tile[row,col:col+8]=cache[(slot*numKvHeads+kvHead)*HD+col:(slot*numKvHeads+kvHead)*HD+col+8]
                else: tile[row,col:col+8]=0
        W=[]
        for warp in range(PF_WARPS):
            rowPos=[];rowOff=[]
            for half in range(2):
                r=warp*16+g+half*8; t=r//group; valid=t<tileTokens
                rowPos.append(np.where(valid,positions[np.minimum(firstToken+t,len(positions)-1)],-1))
                rowOff.append(np.where(valid,((firstToken+t)*numHeads+kvHead*group+r%group)*HD,-1))
            qf=[]
            for kk in range(KSTEPS):
                regs=[]
                for i in range(4):
                    half=i&1; d=kk*16+t2+(i>>1)*8
                    lo=np.where(rowOff[half]>=0,q[np.maximum(rowOff[half],0)+d],0); hi=np.where(rowOff[half]>=0,q[np.maximum(rowOff[half],0)+d+1],0)
                    regs.append(pack(lo,hi))
                qf.append(regs)
            W.append(dict(rowPos=rowPos,rowOff=rowOff,qf=qf,acc=np.zeros((DFRAGS,32,4),np.float32),
                          runMax=[np.full(32,-np.inf,np.float32) for _ in range(2)],runSum=[np.zeros(32,np.float32) for _ in range(2)]))
        nkt=(numKeys+PF_KEYS-1)//PF_KEYS
        load(kT,kc,0); load(vT,vc,0)
        for kt in range(nkt):
            keyStart=kt*PF_KEYS
            for w in W:
                s=np.zeros((SFRAGS,32,4),np.float32)
                for kk in range(KSTEPS):
                    for f in range(0,SFRAGS,2):
                        key=f*8+(lane&7)+((lane>>4)<<3); dim=kk*16+((lane>>3)&1)*8
                        b=ldm(kT,key,dim)
                        s[f]=mma(s[f],w['qf'][kk],b[0],b[1]); s[f+1]=mma(s[f+1],w['qf'][kk],b[2],b[3])
                w['s']=s
            newK=kT.copy();
            if kt+1<nkt: load(newK,kc,keyStart+PF_KEYS)
            needsMask=keyStart+PF_KEYS-1>firstPos
            for w in W:
                s=w['s']
                for f in range(SFRAGS):
                    for i in range(4):
                        key=keyStart+f*8+t2+(i&1); x=(s[f][:,i]*np.float32(scaleLog2)).astype(np.float32)
                        s[f][:,i]=np.where(needsMask&(key>w['rowPos'][i>>1]),-np.inf,x)
                for half in range(2):
                    tm=np.full(32,-np.inf,np.float32)
                    for f in range(SFRAGS): tm=np.maximum(tm,np.maximum(s[f][:,half*2],s[f][:,half*2+1]))
                    tm=quad(tm,np.max); nm=np.maximum(w['runMax'][half],tm); base=np.where(nm==-np.inf,0,nm).astype(np.float32)
                    with np.errstate(invalid='ignore'): corr=np.exp2(w['runMax'][half]-base).astype(np.float32)
                    ts=np.zeros(32,np.float32)
                    for f in range(SFRAGS):
                        for j in range(2):
                            s[f][:,half*2+j]=np.exp2(s[f][:,half*2+j]-base); ts+=s[f][:,half*2+j]
                    ts=quad(ts,np.sum); w['runSum'][half]=w['runSum'][half]*corr+ts; w['runMax'][half]=nm
                    for f in range(DFRAGS):
                        for j in range(2): w['acc'][f][:,half*2+j]*=corr
                w['p']=[[pack(s[2*j][:,0],s[2*j][:,1]),pack(s[2*j][:,2],s[2*j][:,3]),pack(s[2*j+1][:,0],s[2*j+1][:,1]),pack(s[2*j+1][:,2],s[2*j+1][:,3])] for j in range(PF_KEYS//16)]
            for w in W:
                for j in range(PF_KEYS//16):
                    for f in range(0,DFRAGS,2):
                        key=j*16+(lane&7)+((lane>>3)&1)*8; dim=f*8+(lane>>4)*8
                        b=ldm(vT,key,dim,trans=True)
                        w['acc'][f]=mma(w['acc'][f],w['p'][j],b[0],b[1]); w['acc'][f+1]=mma(w['acc'][f+1],w['p'][j],b[2],b[3])
            kT=newK
            if kt+1<nkt: load(vT,vc,keyStart+PF_KEYS)
        for w in W:
            for half in range(2):
                inv=1/w['runSum'][half]
                for f in range(DFRAGS):
                    d=f*8+t2
                    for l in range(32):
                        if w['rowOff'][half][l]<0: continue
                        o=w['rowOff'][half][l]
                        out[o+d[l]:o+d[l]+2]=bf16(np.array([w["acc"][f][l,half*2]*inv[l],w["acc"][f][l,half*2+1]*inv[l]],np.float32))

def tilesFor(queryStarts,positions,group,minLen):
    per=PF_ROWS//group; T=[]
    for s in range(len(queryStarts)-1):
        end=queryStarts[s+1]
        if end-queryStarts[s]<max(1,minLen): continue
        for first in range(queryStarts[s],end,per): T.append([s,first,min(per,end-first),0])
    T.sort(key=lambda t:-positions[t[1]+t[2]-1]); return np.array(T,np.int64).ravel()

def case(numHeads,numKvHeads,HD,pageSize,seqs,rng):
    group=numHeads//numKvHeads
    pagesFor=lambda n:(n+pageSize-1)//pageSize
    maxPages=max(pagesFor(c) for c,_ in seqs); numPages=sum(pagesFor(c) for c,_ in seqs)+5
    numTokens=sum(ql for _,ql in seqs)
    q=rng.uniform(-1.5,1.5,numTokens*numHeads*HD).astype(np.float32)
    kc=bf16(rng.uniform(-1.5,1.5,numPages*pageSize*numKvHeads*HD)); vc=bf16(rng.uniform(-1,1,numPages*pageSize*numKvHeads*HD))
    perm=rng.permutation(numPages); tables=np.zeros(len(seqs)*maxPages,np.int64); positions=[];tokenSeq=[];qs=[0];nxt=0
    for s,(c,ql) in enumerate(seqs):
        for p in range(pagesFor(c)): tables[s*maxPages+p]=perm[nxt]; nxt+=1
        for i in range(ql): positions.append(c-ql+i); tokenSeq.append(s)
        qs.append(len(positions))
    positions=np.array(positions); 
    tiles=tilesFor(qs,positions,group,1)
    out=np.full(numTokens*numHeads*HD,np.nan,np.float32)
    kernel(HD,q,kc,vc,positions,tables,tiles,maxPages,pageSize,numHeads,numKvHeads,1/np.sqrt(HD)/np.log(2),out,len(tiles)//4)
    # reference
    ref=np.zeros_like(out,dtype=np.float64)
    for t in range(numTokens):
        nk=positions[t]+1; s=tokenSeq[t]
        slots=np.array([tables[s*maxPages+j//pageSize]*pageSize+j%pageSize for j in range(nk)])
        for h in range(numHeads):
            kv=h//group
            K=kc.reshape(-1,numKvHeads,HD)[slots,kv].astype(np.float64); V=vc.reshape(-1,numKvHeads,HD)[slots,kv].astype(np.float64)
            qq=q[(t*numHeads+h)*HD:(t*numHeads+h+1)*HD].astype(np.float64)
            sc=K@qq/np.sqrt(HD); p=np.exp(sc-sc.max()); p/=p.sum()
            ref[(t*numHeads+h)*HD:(t*numHeads+h+1)*HD]=p@V
    if np.isnan(out).any(): return float('inf')
    return np.linalg.norm(out-ref)/np.linalg.norm(ref)

rng=np.random.default_rng(0)
for cfg in [(4,4,32,16,[(1,1),(15,15),(17,17),(70,70)]),(8,2,48,8,[(80,13),(3,3)]),(4,1,64,16,[(130,130)]),(7,1,32,5,[(20,20),(40,9)]),(6,2,96,16,[(66,66)]),(8,8,64,1,[(70,70)]),(16,4,128,32,[(100,36),(5,5)])]:
    print(cfg[:4],cfg[4],"rel err",case(*cfg,rng)); sys.stdout.flush()
