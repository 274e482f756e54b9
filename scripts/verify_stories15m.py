#!/usr/bin/env python3
"""Independent check of the converted stories15M: a numpy forward pass written to transformers' Llama
conventions (rotate-half RoPE) plus the tokenizers library. Greedy from BOS + "Once upon a time"
must print the text the issue quotes. Usage: verify_stories15m.py [MODEL_DIR]  (needs numpy, tokenizers).
Assumes num_key_value_heads == num_attention_heads, as in stories15M."""
import json, struct, numpy as np
from tokenizers import Tokenizer
import os, sys
d=(sys.argv[1] if len(sys.argv)>1 else os.path.join(os.environ.get("RADIXLM_HOME", os.path.expanduser("~/.cache/radixlm")), "models", "stories15M"))+"/"
raw=open(d+"model.safetensors","rb").read(); n=struct.unpack("<Q",raw[:8])[0]; hdr=json.loads(raw[8:8+n])
W={k:np.frombuffer(raw[8+n+v["data_offsets"][0]:8+n+v["data_offsets"][1]],dtype="<f4").reshape(v["shape"]) for k,v in hdr.items() if k!="__metadata__"}
c=json.load(open(d+"config.json")); H=c["num_attention_heads"]; hd=c["head_dim"]; L=c["num_hidden_layers"]
def rms(x,w): return x/np.sqrt((x*x).mean(-1,keepdims=True)+1e-5)*w
def rope(x,pos):  # x (T, H, hd), HF rotate-half
    inv=1.0/(10000**(np.arange(0,hd,2)/hd)); ang=pos[:,None]*inv[None]; cos=np.cos(np.concatenate([ang,ang],-1))[:,None]; sin=np.sin(np.concatenate([ang,ang],-1))[:,None]
    rh=np.concatenate([-x[...,hd//2:],x[...,:hd//2]],-1); return x*cos+rh*sin
def fwd(ids):
    T=len(ids); x=W["model.embed_tokens.weight"][ids].astype(np.float64); pos=np.arange(T,dtype=np.float64)
    for l in range(L):
        p=f"model.layers.{l}."; h=rms(x,W[p+"input_layernorm.weight"])
        q=rope((h@W[p+"self_attn.q_proj.weight"].T).reshape(T,H,hd),pos); k=rope((h@W[p+"self_attn.k_proj.weight"].T).reshape(T,H,hd),pos); v=(h@W[p+"self_attn.v_proj.weight"].T).reshape(T,H,hd)
        s=np.einsum("thd,shd->hts",q,k)/np.sqrt(hd); s+=np.triu(np.full((T,T),-1e30),1); s=np.exp(s-s.max(-1,keepdims=True)); s/=s.sum(-1,keepdims=True)
        a=np.einsum("hts,shd->thd",s,v).reshape(T,H*hd); x=x+a@W[p+"self_attn.o_proj.weight"].T
        h=rms(x,W[p+"post_attention_layernorm.weight"]); g=h@W[p+"mlp.gate_proj.weight"].T; u=h@W[p+"mlp.up_proj.weight"].T
        x=x+((g/(1+np.exp(-g)))*u)@W[p+"mlp.down_proj.weight"].T
    return rms(x,W["model.norm.weight"])@W["model.embed_tokens.weight"].T
tok=Tokenizer.from_file(d+"tokenizer.json"); ids=tok.encode("Once upon a time").ids; print(ids)
for _ in range(40): ids.append(int(fwd(ids)[-1].argmax()))
print(ids); print(tok.decode(ids, skip_special_tokens=True))
expected = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she saw a big, red ball in the sky."
text = tok.decode(ids, skip_special_tokens=True)
if not text.startswith(expected):
    sys.exit("MISMATCH: expected the text to begin with: " + expected)
print("OK")
