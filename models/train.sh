#!/usr/bin/env bash
# Re-makes every shipped model with `saliency train`, from the data in ../shared/data.
# Run from the repository root:  bash models/train.sh   (about 8 minutes on 2 CPU cores)
set -euo pipefail
DATA=${DATA:-../shared/data}

saliency train "$DATA/sst2/train.tsv" --test "$DATA/sst2/dev.tsv" --valid-split 0.05 \
  --label-names 0=negative,1=positive --level word --cell lstm --hidden 256 --embedding 128 \
  --pooling max --dropout 0.5 --epochs 5 --lr 2e-3 --batch-size 64 --min-count 2 --seed 0 \
  --half -o models/sst2-lstm.safetensors

saliency train "$DATA/names" --level char --keep-case --cell gru --hidden 128 --embedding 32 \
  --pooling last --dropout 0.1 --epochs 12 --lr 3e-3 --batch-size 32 --valid-split 0.1 --test-split 0.1 \
  --seed 0 --half -o models/names-gru.safetensors

saliency train "$DATA/tinyshakespeare/input.txt" --task lm --level char --keep-case --cell lstm \
  --hidden 256 --embedding 64 --dropout 0.0 --epochs 12 --lr 3e-3 --batch-size 64 --seq-len 128 \
  --valid-split 0.1 --seed 0 --half -o models/shakespeare-lstm.safetensors

# The vanilla RNN beside shakespeare-lstm (same data), for `saliency decay`. One thread: at these
# sizes torch's second thread only waits on a busy machine (measured: 15 s vs 2 min CPU per epoch).
OMP_NUM_THREADS=1 saliency train "$DATA/tinyshakespeare/input.txt" --task lm --level char --keep-case --cell rnn \
  --hidden 128 --embedding 32 --dropout 0.0 --epochs 5 --lr 3e-3 --batch-size 64 --seq-len 128 \
  --valid-split 0.1 --seed 0 --half -o models/shakespeare-rnn.safetensors

# The part-of-speech tagger: a word BiLSTM on UD English EWT (CC BY-SA 4.0), one UPOS tag per word.
# dev picks the epoch, test is scored once at the end. One thread, as above: 7.6 minutes on a busy
# 2-core machine (a first run with two threads there had not finished after 28 minutes).
OMP_NUM_THREADS=1 saliency train "$DATA/ud-ewt/train.conllu" --valid "$DATA/ud-ewt/dev.conllu" \
  --test "$DATA/ud-ewt/test.conllu" --task tag --level word --min-count 2 --cell lstm --bidirectional \
  --layers 2 --hidden 192 --embedding 128 --dropout 0.25 --epochs 12 --lr 3e-3 --batch-size 32 --seed 0 \
  --half -o models/ud-pos.safetensors
