"""Mutation check: do the tests catch real kernel bugs? Each entry below is a one-line bug (in
the C loops, the Cython boundary, the trainer, the reference) and the tests that must catch it.
The tool applies each to a copy of the repository, rebuilds it in place, runs those tests and
reports CAUGHT (they failed, as they should) or MISSED.

    python tools/mutation_check.py [NAME ...]      # from the repository root; about 45 s a mutation

Needs the build requirements (Cython, numpy, scipy) and FASTMLP_DATA (default ../shared/data).
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

M = {
 "softmax-no-max": ("csrc/elementwise.h", "r[j] = EXP(z[j] - top); total += r[j];", "r[j] = EXP(z[j]); total += r[j];", "tests/test_engine_steps.py tests/test_kernels.py"),
 "fused-xent-p-minus-y": ("csrc/elementwise.h", "g[j] = (q[j] * ysum - yj) * inv_rows;", "g[j] = (q[j] - yj) * inv_rows;", "tests/test_gradients.py"),
 "nesterov-ignored": ([("csrc/elementwise.h", "w[i] += momentum * m[i] - lr * g[i];", "w[i] += m[i];"),
                       ("fastmlp/_reference.py", "(w + momentum * m - lr * g if nesterov else w + m)", "(w + m)")], None, None, "tests/test_keras_golden.py"),
 "rmsprop-eps-outside": ([("csrc/elementwise.h", "w[i] -= lr * g[i] / SQRT(v[i] + eps);", "w[i] -= lr * g[i] / (SQRT(v[i]) + eps);"),
                          ("fastmlp/_reference.py", "step = lr * g / np.sqrt(v + eps)", "step = lr * g / (np.sqrt(v) + eps)")], None, None, "tests/test_keras_golden.py"),
 "order-bound-off-by-one": ("fastmlp/_kernels/network.pyx", "if src < 0 or src >= c.rows:", "if src < 0 or src > c.rows:", "tests/test_hardening.py -k order"),
 "first-step-ignored": ("fastmlp/_kernels/network.pyx", "    cdef Fault fault\n    for step in range(c.first, c.first + c.n_steps):", "    cdef Fault fault\n    for step in range(0, c.n_steps):", "tests/test_engine_steps.py tests/test_keras_golden.py"),
 "labels-by-position": ("fastmlp/_kernels/network.pyx", "sc.labels_batch[i] = c.labels[src]", "sc.labels_batch[i] = c.labels[start + i]", "tests/test_engine_steps.py"),
 "targets-by-position": ("fastmlp/_kernels/network.pyx", "memcpy(t_batch + i * n_out, targets + src * n_out", "memcpy(t_batch + i * n_out, targets + (start + i) * n_out", "tests/test_engine_steps.py"),
 "binary-acc-reads-targets": ("csrc/elementwise.h", "T want = t ? t[i * cols + j] : (T)labels[i];", "T want = t[i * cols + j];", "tests/test_hardening.py -k one_unit"),
 "no-busy-guard": ("fastmlp/_kernels/network.pyx", "        if self._busy:\n            raise RuntimeError(\"this Network is already training", "        if False:\n            raise RuntimeError(\"this Network is already training", "tests/test_hardening.py -k one_training_call"),
 "publish-in-place": ("fastmlp/engine.py", "        weights = self.params.copy()\n        weights.flags.writeable = False\n", "        weights = self.params.copy() if self.published is None else self.published\n        weights.flags.writeable = True\n        weights[...] = self.params\n", "tests/test_hardening.py -k half_written"),
 "no-slices": ("fastmlp/trainer.py", "        self.steps = max(1, min(int(target), self.steps * 4))", "        self.steps = 10**9", "tests/test_training_faults.py -k ctrl_c"),
 "no-replay": ("fastmlp/trainer.py", "        if bad_step >= 0 and engine.finite(rule):", "        if bad_step >= 0:", "tests/test_training_faults.py"),
 "no-final-weight-check": ("fastmlp/trainer.py", "                if bad_step >= 0 or not engine.finite(rule):", "                if bad_step >= 0:", "tests/test_training_faults.py"),
 "adam-alpha-double": ("fastmlp/_kernels/optim.pyx", "alpha_f = <float>lr * sqrtf(<float>1 - powf(b2, tf)) / (<float>1 - powf(b1, tf))", "alpha_f = <float>(lr * sqrt(1.0 - pow(self.beta_2, t)) / (1.0 - pow(self.beta_1, t)))", "tests/test_keras_golden.py"),
 "adam-one-minus-beta-in-float": ("fastmlp/_kernels/optim.pyx", "            c2 = <float>(1.0 - self.beta_2)", "            c2 = <float>1.0 - <float>self.beta_2", "tests/test_keras_optimizer_golden.py"),
 "amsgrad-ignored": ("csrc/elementwise.h", "            w[i] -= m[i] * alpha / (SQRT(v_hat[i]) + eps);", "            w[i] -= m[i] * alpha / (SQRT(v[i]) + eps);", "tests/test_keras_optimizer_golden.py"),
 "nadam-u-product-stale": ("fastmlp/_kernels/optim.pyx", "            self.u_product = u_prodf\n", "\n", "tests/test_keras_optimizer_golden.py"),
 "clipnorm-global": ("fastmlp/_kernels/optim.pyx", "        if self._clipnorm > 0:", "        if False:", "tests/test_keras_optimizer_golden.py tests/test_optimizers.py"),
 "weight-decay-after-update": ([("fastmlp/_kernels/optim.pyx", "        if self._decays:\n            if self.is_double:\n                fm_weight_decay_d(<double *>w + lo", "        self._update(w, g, lr, lo, n)\n        if self._decays:\n            if self.is_double:\n                fm_weight_decay_d(<double *>w + lo"), ("fastmlp/_kernels/optim.pyx", "<float>lr)\n        self._update(w, g, lr, lo, n)", "<float>lr)")], None, None, "tests/test_keras_optimizer_golden.py"),
 "schedule-after-increment": ("fastmlp/_kernels/optim.pyx", "        cdef double lr = self._learning_rate_now()\n        self.iterations += 1\n        return lr", "        self.iterations += 1\n        cdef double lr = self._learning_rate_now()\n        return lr", "tests/test_keras_optimizer_golden.py"),
 "no-alignment-check": ("fastmlp/_kernels/checks.py", "and arr.flags.c_contiguous and arr.flags.aligned and", "and arr.flags.c_contiguous and", "tests/test_hardening.py -k misaligned"),
 "labels-range-unchecked": ("fastmlp/_kernels/loss.pyx", "if class_indices and rows and (labels.min() < 0", "if False and (labels.min() < 0", "tests/test_hardening.py -k range"),
 "batch-not-clamped": ("fastmlp/_kernels/network.pyx", "batch = max(1, min(batch_size, rows, BLAS_MAX))", "batch = max(1, min(batch_size, BLAS_MAX))", "tests/test_hardening.py -k 'past_32 or sizes_its_scratch'"),
 "scratch-uncapped": ("fastmlp/_kernels/network.pyx", "return max(1, min(batch_size, rows, cap, BLAS_MAX))", "return max(1, min(batch_size, rows, BLAS_MAX))", "tests/test_hardening.py -k scratch"),
 "layer-shared": ("fastmlp/layers.py", "        if owner is not None and owner is not model:", "        if False:", "tests/test_hardening.py -k belongs"),
 "no-flush-in-loops": ("csrc/fpstate.h", "    _mm_setcsr(old | FM_FTZ_DAZ);", "    _mm_setcsr(old);", "tests/test_fpstate.py"),
 "flush-leaks-to-caller": ("fastmlp/_kernels/network.pyx", "        _dispatch[float](c, <float *>params)\n    fm_flush_denormals_end(fp_state)\n", "        _dispatch[float](c, <float *>params)\n    pass\n", "tests/test_fpstate.py -k fit"),
 "early-stop-one-late": ("fastmlp/callbacks.py", "        if self.wait >= self.patience and epoch > 0:", "        if self.wait > self.patience and epoch > 0:", "tests/test_callbacks.py"),
 "restore-last-not-best": ("fastmlp/callbacks.py", "            if self.restore_best_weights:\n                self.best_weights = self.model.get_weights()\n            if self.baseline", "            if self.baseline", "tests/test_callbacks.py"),
 "selu-derivative-unscaled": ("csrc/elementwise.h", ": o[j] + (T)(FM_SELU_SCALE * FM_SELU_ALPHA));", ": o[j] + (T)FM_SELU_ALPHA);", "tests/test_layer_steps.py tests/test_keras_layers_golden.py"),
 "gelu-derivative-drops-density": ("csrc/elementwise.h", "+ x[j] * (T)FM_INV_SQRT_2PI * EXP((T)-0.5 * x[j] * x[j]));", ");", "tests/test_layer_steps.py tests/test_keras_layers_golden.py"),
 "elu-alpha-ignored": ("csrc/elementwise.h", "z[j] = o[j] > 0 ? d[j] : d[j] * (o[j] + alpha);", "z[j] = o[j] > 0 ? d[j] : d[j] * (o[j] + 1);", "tests/test_kernels.py -k alpha"),
 "bn-backward-no-mean-term": ("csrc/batch_norm.h", "dx[i * cols + j] = k * (dy[i * cols + j] - (s_dy[j] + xhat * s_dyx[j]) * inv_rows);", "dx[i * cols + j] = k * (dy[i * cols + j] - (xhat * s_dyx[j]) * inv_rows);", "tests/test_layer_steps.py"),
 "bn-unbiased-variance": ("csrc/batch_norm.h", "        var[j] *= inv_rows;", "        var[j] /= (T)(rows - 1);", "tests/test_keras_layers_golden.py"),
 "bn-moving-rest-is-momentum": ("csrc/batch_norm.h", "moving_mean[j] = moving_mean[j] * momentum + stats[j] * rest;", "moving_mean[j] = moving_mean[j] * rest + stats[j] * momentum;", "tests/test_keras_layers_golden.py tests/test_layer_steps.py"),
 "bn-moving-update-twice": ("fastmlp/_kernels/network.pyx", "            return\n        _update_moving_statistics(plan, &c.scratch, params)", "            return\n        _update_moving_statistics(plan, &c.scratch, params)\n        _update_moving_statistics(plan, &c.scratch, params)", "tests/test_layer_steps.py tests/test_keras_layers_golden.py"),
 "bn-moving-update-before-loss-check": ("fastmlp/_kernels/network.pyx", "                                     mb)\n        if not isfinite(loss_sum):", "                                     mb)\n        _update_moving_statistics(plan, &c.scratch, params)\n        if not isfinite(loss_sum):", "tests/test_layer_steps.py -k touched"),
 "dropout-unscaled": ("fastmlp/_kernels/network.pyx", "fm_dropout_cols_d(y, x, rows, s.n_out, u0, u1, key, threshold, 1.0 / (1.0 - s.rate))", "fm_dropout_cols_d(y, x, rows, s.n_out, u0, u1, key, threshold, 1.0)", "tests/test_layer_steps.py"),
 "dropout-mask-ignores-step": ("csrc/dropout.h", "    z = fm_mix64(z ^ ((uint64_t)step + 0x9e3779b97f4a7c15ull));", "", "tests/test_layer_steps.py"),
 "skip-zeros-drops-nan-512": ("csrc/kept_inputs.h", "                any |= _mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);", "                any |= _mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_OQ);", "tests/test_sparse_row.py -k nan"),
 "skip-zeros-drops-nan-256": ("csrc/kept_inputs.h", "_mm256_cmp_ps(v, _mm256_setzero_ps(),\n                                                                  _CMP_NEQ_UQ));", "_mm256_cmp_ps(v, _mm256_setzero_ps(),\n                                                                  _CMP_NEQ_OQ));", "tests/test_sparse_row.py -k nan"),
 "skip-zeros-index-tail": ("csrc/kept_inputs.h", "(__mmask16)((1u << (k - p)) - 1u);\n            __mmask16 any = 0;", "(__mmask16)((1u << (k - p - 1)) - 1u);\n            __mmask16 any = 0;", "tests/test_sparse_row.py -k reference"),
 "skip-zeros-threshold": ("csrc/kept_inputs.h", "dense - kept >= dense / FM_KEPT_MIN_SKIPPED", "dense - kept > dense / FM_KEPT_MIN_SKIPPED", "tests/test_sparse_row.py -k declines"),
 "skip-zeros-trusts-any-weights": ("fastmlp/_kernels/network.pyx", "self._published_finite = fm_all_finite_f(\n                <const float *>cnp.PyArray_DATA(<cnp.ndarray>params), self.size)", "self._published_finite = True", "tests/test_sparse_row.py -k finite"),
 "skip-zeros-wide-columns": ("fastmlp/_kernels/network.pyx", "fm_sgemv_kept(level, c1 - c0, x, nonzeros, kept, params + s.w_off + c0, n, y + c0,", "fm_sgemv_kept(level, c1 - c0, x, nonzeros, kept, params + s.w_off, n, y + c0,", "tests/test_sparse_row.py -k wide"),
 "gather-masks-unused": ("fastmlp/_kernels/network.pyx", "            masks = sc.kept_masks\n", "            masks = NULL\n", "tests/test_kept_inputs.py -k fit"),
 "row-mask-drops-nan-512": ("csrc/kept_inputs.h", "            word |= (uint64_t)_mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_UQ)", "            word |= (uint64_t)_mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_OQ)", "tests/test_kept_inputs.py -k 'lists_hold'"),
 "row-mask-part-unshifted-512": ("csrc/kept_inputs.h", "                    << (16 * part);", "                    << (8 * part);", "tests/test_kept_inputs.py -k 'lists_hold'"),
 "row-mask-tail-unchecked-512": ("csrc/kept_inputs.h", "            bad = _mm512_add_ps(bad, _mm512_sub_ps(v, v));\n        }\n        mask[w * stride] = word;", "        }\n        mask[w * stride] = word;", "tests/test_kept_inputs.py -k gathered_row"),
 "row-mask-tail-bit-256": ("csrc/kept_inputs.h", "            word |= (uint64_t)!(x[p] == 0.0f) << (p % 64);", "            word |= (uint64_t)!(x[p] == 0.0f) << (p % 8);", "tests/test_kept_inputs.py -k 'lists_hold'"),
 "row-mask-tail-unchecked-256": ("csrc/kept_inputs.h", "            bad_tail |= !(x[p] - x[p] == 0.0f);", "            (void)bad_tail;", "tests/test_kept_inputs.py -k gathered_row"),
 "row-mask-word-not-stored": ("csrc/kept_inputs.h", "        mask[w * stride] = word;\n    }\n    return _mm512_cmp", "        mask[w * stride] |= word;\n    }\n    return _mm512_cmp", "tests/test_kept_inputs.py -k 'lists_hold'"),
 "gather-copy-short": ("csrc/kept_inputs.h", "        memcpy(dst, src, (size_t)n * sizeof(float));", "        memcpy(dst, src, (size_t)(n - 1) * sizeof(float));", "tests/test_kept_inputs.py -k gathered_row"),
 "mask-rows-block-not-ored": ("csrc/kept_inputs.h", "                any |= masks[w * m + i + r];", "                any = masks[w * m + i + r];", "tests/test_kept_inputs.py -k 'lists_hold'"),
 "mask-columns-straddle-ignored": ("csrc/kept_inputs.h", "uint64_t lo = block << shift, hi = shift + width > 64 ? block >> (64 - shift) : 0;", "uint64_t lo = block << shift, hi = 0;", "tests/test_kept_inputs.py -k 'lists_hold'"),
 "mask-columns-tail-rows-512": ("csrc/kept_inputs.h", "                   : left > 8 ? (__mmask8)((1u << (left - 8)) - 1u) : (__mmask8)0;", "                   : left > 8 ? (__mmask8)((1u << (left - 9)) - 1u) : (__mmask8)0;", "tests/test_kept_inputs.py -k 'lists_hold'"),
 "mask-columns-drop-last-row-256": ("csrc/kept_inputs.h", "        for (ptrdiff_t p = 0; p < rows; p++) {\n            kept[count] = (int32_t)p;", "        for (ptrdiff_t p = 0; p < rows - 1; p++) {\n            kept[count] = (int32_t)p;", "tests/test_kept_inputs.py -k 'lists_hold'"),
 "in-place-masks-unused": ("fastmlp/_kernels/network.pyx", "        mb[0] = masks\n        return OK", "        return OK", "tests/test_kept_inputs.py -k fit"),
 "in-place-finiteness-ignored": ("fastmlp/_kernels/network.pyx", "                return NONFINITE_X  # a row in place", "                pass  # a row in place", "tests/test_x_checked_in_loops.py"),
 "in-place-rows-share-a-mask": ("fastmlp/_kernels/network.pyx", "finite = fm_row_mask(level, xb[0] + i * n_in + u0, u1 - u0, masks + i, rows)", "finite = fm_row_mask(level, xb[0] + i * n_in + u0, u1 - u0, masks, rows)", "tests/test_kept_inputs.py -k fit"),
 "gather-rows-share-a-mask": ("fastmlp/_kernels/network.pyx", "                                       u1 - u0, masks + i, rows)", "                                       u1 - u0, masks, rows)", "tests/test_kept_inputs.py -k fit"),
 "mask-rows-wrong-offset-512": ("csrc/kept_inputs.h", "count = fm_kept_append512(kept, count, w * 64 + part * 16,", "count = fm_kept_append512(kept, count, w * 64 + part * 8,", "tests/test_kept_inputs.py -k 'lists_hold'"),
 "kept-rows-first-row-only": ("csrc/kept_inputs.h", "            for (ptrdiff_t r = 0; r < rows; r++) {\n                __m512 v = _mm512_maskz_loadu_ps", "            for (ptrdiff_t r = 0; r < 1; r++) {\n                __m512 v = _mm512_maskz_loadu_ps", "tests/test_kept_inputs.py"),
 "kept-tiles-read-block-0": ("csrc/small_gemm.h", "relu, pf, kept ? kept + kept_at[b] : NULL);", "relu, pf, kept ? kept + kept_at[0] : NULL);", "tests/test_kept_inputs.py -k 'products or fit'"),
 "kept-fit-never-skips": ("fastmlp/_kernels/network.pyx", "    if floating is float:\n        if level > 0 and sc.kept != NULL:", "    if floating is float:\n        if False:", "tests/test_kept_inputs.py -k fit"),
 "kept-packed-reads-block-0": ("csrc/packed_weights.h", "relu, NULL, kept ? kept + kept_at[b] : NULL);", "relu, NULL, kept ? kept + kept_at[0] : NULL);", "tests/test_kept_inputs.py -k inference"),
 "dropout-in-inference": ("fastmlp/_kernels/network.pyx", "        if s.kind == DROPOUT:\n            if l == last:", "        if False:\n            if l == last:", "tests/test_layer_steps.py tests/test_keras_layers_golden.py"),
 "activation-step-backward-skipped": ("fastmlp/_kernels/network.pyx", "            _activate_backward(other, delta, out, inp, rows, n, act, s.alpha)", "            _activate_backward(other, delta, out, inp, rows, n, 0, s.alpha)", "tests/test_layer_steps.py"),
 "weights-gathered-by-position": ("fastmlp/_kernels/network.pyx", "            w_batch[i] = weights[src]", "            w_batch[i] = weights[start + i]", "tests/test_training.py -k zero_weighted"),
 "weights-unscaled-gradient": ("fastmlp/_kernels/loss.pyx", "        scale = weights[i] / <floating>batch", "        scale = 1 / <floating>batch", "tests/test_keras_layers_golden.py"),
 "top-k-strict-ties": ("csrc/elementwise.h", "    for (ptrdiff_t j = 0; j < cols; j++) above += r[j] > r[target];", "    for (ptrdiff_t j = 0; j < cols; j++) above += r[j] >= r[target] && j != target;", "tests/test_kernels.py -k metrics"),
 "l2-gradient-halved": ("csrc/regularizers.h", "        T a = scale * l1, b = scale * 2 * l2;", "        T a = scale * l1, b = scale * l2;", "tests/test_keras_layers_golden.py"),
 "activity-penalty-not-per-batch": ("fastmlp/_kernels/network.pyx", "            activity += _penalty(out, rows * s.n_out, s.activity_l1, s.activity_l2, NULL, 0)", "            activity += _penalty(out, rows * s.n_out, s.activity_l1, s.activity_l2, NULL, 0) * rows", "tests/test_keras_layers_golden.py"),
 "max-norm-scales-up": ("csrc/constraints.h", "        T desired = kind == FM_UNIT_NORM ? (T)1 : (norm < max_value ? norm : max_value);", "        T desired = kind == FM_UNIT_NORM ? (T)1 : max_value;", "tests/test_keras_layers_golden.py"),
 "frozen-batch-norm-trains": ("fastmlp/engine.py", "                \"frozen\": not self.trainable}\n\n\nStep", "                \"frozen\": False}\n\n\nStep", "tests/test_keras_layers_golden.py"),
 "copy-without-weights": ("fastmlp/saving/native.py", "        _load_flat_weights(model, reader)\n", "        pass\n", "tests/test_hardening.py -k deepcopy"),
 "small-gemm-tail-mask-short": ("csrc/small_gemm.h", "__mmask16 last = (__mmask16)((1u << tail) - 1u);", "__mmask16 last = (__mmask16)((1u << tail) - 2u);", "tests/test_small_gemm.py"),
 "small-gemm-tail-mask-long": ("csrc/small_gemm.h", "__mmask16 last = (__mmask16)((1u << tail) - 1u);", "__mmask16 last = (__mmask16)((2u << tail) - 1u);", "tests/test_small_gemm.py"),
 "small-gemm-avx2-tail": ("csrc/small_gemm.h", "__m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)tail),", "__m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)tail + 1),", "tests/test_small_gemm.py"),
 "small-gemm-wrong-w-vector": ("csrc/small_gemm.h", "c < V; c++) acc[r][c] = _mm512_fmadd_ps(a, wv[c], acc[r][c]);", "c < V; c++) acc[r][c] = _mm512_fmadd_ps(a, wv[0], acc[r][c]);", "tests/test_small_gemm.py"),
 "split-drops-a-row": ("fastmlp/parallel.py", "        stop = start + base + (1 if index < extra else 0)", "        stop = start + base", "tests/test_small_gemm.py"),
 "fast-path-skips-finite-check": ("fastmlp/_kernels/network.pyx", "        return out if finite else None", "        return out", "tests/test_small_gemm.py tests/test_kept_inputs.py -k finite"),
 "fast-path-any-width": ("fastmlp/_kernels/network.pyx", "                or not _well_formed(x, self._typenum, 2, -1, self.plan.n_inputs, False)):", "                or not _well_formed(x, self._typenum, 2, -1, -1, False)):", "tests/test_small_gemm.py tests/test_hardening.py"),
 "predict-scratch-leak": ("fastmlp/_kernels/network.pyx", "mode, &finite)\n        finally:\n            _call_ends()\n            _lone_free(&c, &part, mode, taken_back)\n            free(c.work)\n        return finite", "mode, &finite)\n        finally:\n            _call_ends()\n            _lone_free(&c, &part, mode, taken_back)\n        return finite", "tests/test_small_gemm.py -k grow"),
 "dw-own-kernel-untransposed": ("fastmlp/_kernels/dense.pyx", "done = fm_sgemm_small_kept(level, n_in, n_out, rows, x, 1, n_in, dz, n_out, dw, n_out,", "done = fm_sgemm_small_kept(level, n_in, n_out, rows, x, n_in, 1, dz, n_out, dw, n_out,", "tests/test_small_gemm.py"),
 "train-limit-ignored": ("fastmlp/_kernels/network.pyx", "    return plan.train_level if rows * s.n_in * s.n_out <= plan.own_gemm_max else 0", "    return plan.train_level", "tests/test_small_gemm.py"),
 "train-limit-ignores-environment": ("fastmlp/engine.py", "        self._blas_threads = config.blas_threads()  # as BLAS read it when it loaded", "        self._blas_threads = 2", "tests/test_small_gemm.py"),
 "train-limit-ignores-call-threads": ("fastmlp/engine.py", "    if threads == 1:\n        return sys.maxsize, True", "    if False:\n        return sys.maxsize, True", "tests/test_small_gemm.py -k \"training_limit or one_thread_fit\""),
 "ceiling-limit-not-applied": ("fastmlp/engine.py", "        self.network.gemm_steps(rows, n_steps, self._train_threads(), rule)", "        self.network.gemm_steps(rows, n_steps, config.num_threads(), rule)", "tests/test_small_gemm.py -k one_thread_fit"),
 "train-limit-set-once": ("fastmlp/engine.py", "        threads = self._train_threads()\n", "        threads = config.num_threads()\n", "tests/test_small_gemm.py -k \"training_limit or one_thread_fit\""),
 "team-dropout-mask-of-share": ("fastmlp/_kernels/network.pyx", "fm_dropout_rows_key(fm_dropout_key(s.seed, epoch_seed, step), first_row)", "fm_dropout_rows_key(fm_dropout_key(s.seed, epoch_seed, step), 0)", "tests/test_team.py"),
 "team-share-not-batch-mean": ("fastmlp/_kernels/network.pyx", "        share = <floating>rows / <floating>batch_rows", "        share = 1", "tests/test_team.py"),
 "team-penalties-per-thread": ("fastmlp/_kernels/network.pyx", "xb, lb, tb, wb, me.rows, rows, first, t == 0,", "xb, lb, tb, wb, me.rows, rows, first, True,", "tests/test_team.py"),
 "team-no-reduction": ("fastmlp/_kernels/network.pyx", "                    acc[i] += src[i]", "                    pass", "tests/test_team.py"),
 "team-wt-not-refreshed": ("fastmlp/_kernels/network.pyx", "            _transpose_weights(plan, own, wt, lo, me.hi)", "            pass", "tests/test_team.py"),
 "team-step-not-cancelled": ("fastmlp/_kernels/network.pyx", "                    (<UpdateRule>c.rule).cancel_step()", "                    pass", "tests/test_team.py"),
 "team-parts-unsnapped": ("fastmlp/_kernels/network.pyx", "                    bound = max(previous, st.w_off + (bound - st.w_off) // st.n_out * st.n_out)", "                    pass", "tests/test_team.py"),
 "wt-stale-between-calls": ("fastmlp/_kernels/network.pyx", "    if c.op in (TRAIN, GEMMS) and c.wt != NULL:", "    if False:", "tests/test_team.py"),
 "team-fallback-keeps-team": ("fastmlp/_kernels/network.pyx", "this thread trains alone\n                    run.open = False\n", "this thread trains alone\n                    pass\n", "tests/test_team.py -k helpers"),
 "dx-from-w-not-wt": ("fastmlp/_kernels/dense.pyx", "        forward_gemm(dy, wt, dx, rows, n_out, n_in, level, NULL, False, pf, NULL)", "        forward_gemm(dy, w, dx, rows, n_out, n_in, level, NULL, False, pf, NULL)", "tests/test_team.py"),
 "msvc-interlocked-arity": ("csrc/team.h", "{ _InterlockedExchange(p, v); }", "{ _InterlockedExchange(p); }", "tests/test_package.py -k portable"),
 "gemm-ymm-tail-short": ("csrc/small_gemm.h", "_mm256_set1_epi32(__builtin_popcount((unsigned)last))", "_mm256_set1_epi32(__builtin_popcount((unsigned)last) - 1)", "tests/test_small_gemm.py"),
 "prefetch-drops-row-tail": ("csrc/prefetch.h", "pf->end = start + pf->span;", "pf->end = start + pf->span - 64;", "tests/test_prefetch.py"),
 "gemm512-prefetch-unwired": ("csrc/small_gemm.h", "kept ? kept_at[b + 1] - kept_at[b] : k, last, bias ? bias + j : NULL,\n                            relu, pf, kept", "kept ? kept_at[b + 1] - kept_at[b] : k, last, bias ? bias + j : NULL,\n                            relu, NULL, kept", "tests/test_prefetch.py"),
 "gemm-relu-keeps-nan": ("csrc/small_gemm.h", "acch[r] = _mm256_max_ps(acch[r], _mm256_setzero_ps());", "acch[r] = _mm256_max_ps(_mm256_setzero_ps(), acch[r]);", "tests/test_small_gemm.py -k relu"),
 "gemm-ymm-tail-bias-dropped": ("csrc/small_gemm.h", "            acch[r] = _mm256_add_ps(acch[r], bh);", "            acch[r] = acch[r];", "tests/test_small_gemm.py -k relu"),
 "scipy-blas-table-via-package": ("fastmlp/_kernels/scipy_blas.py", "    if NAME in sys.modules or PACKAGE in sys.modules:\n        return", "    if True:\n        return", "tests/test_package.py -k scipy"),
 "scipy-blas-attribute-not-set": ("fastmlp/_kernels/scipy_blas.py", "            package.cython_blas = sys.modules[NAME]", "            pass", "tests/test_package.py -k scipy"),
 "bias-added-twice": ("fastmlp/_kernels/dense.pyx", "        b = NULL  # added as the tiles were stored", "        pass", "tests/test_small_gemm.py tests/test_kernels.py"),
 "gemm-panels-drop-remainder": ("csrc/small_gemm.h", "return vectors_all / panels + (q < vectors_all % panels);", "return vectors_all / panels;", "tests/test_small_gemm.py"),
 "team-update-not-published": ("fastmlp/_kernels/network.pyx", "                memcpy(params + lo, own + lo, n * sizeof(floating))", "                pass", "tests/test_team.py"),
 "solo-transposes-stale": ("fastmlp/_kernels/network.pyx", "        if c.wt != NULL:\n            _transpose_weights(plan, params, <floating *>c.wt, 0, PY_SSIZE_T_MAX)", "        if False:\n            _transpose_weights(plan, params, <floating *>c.wt, 0, PY_SSIZE_T_MAX)", "tests/test_team.py -k lone_thread"),
 "probe-never-retries": ("fastmlp/bench/measure.py", "if probe is None or probe >= PAIR_MIN or attempt == attempts - 1:", "if True:", "tests/test_bench_cli.py -k one_core"),
 "probe-mark-ignored": ("fastmlp/bench/report.py", "+ (\"*\" if pair is not None and pair < PAIR_MIN else \"\")", "+ (\"*\" if pair is not None and pair < 0 else \"\")", "tests/test_bench_cli.py -k concurrent_figure"),
 "probe-counts-one-thread": ("fastmlp/bench/load.py", "return (mine + helper_calls[0]) / (time.perf_counter() - window[0]) / one", "return mine / (time.perf_counter() - window[0]) / one", "tests/test_bench_cli.py -k core_pair"),
 "call-training-ignored": ("fastmlp/trainer.py", "        if training and self.engine.training_differs:", "        if False:", "tests/test_models.py -k training_and_mask"),
 "training-differs-misses-batch-norm": ("fastmlp/engine.py", "or (isinstance(step, BatchNormStep) and step.trainable) for step in self.steps)", "for step in self.steps)", "tests/test_models.py -k training_and_mask"),
 "call-fast-path-wrong": ("fastmlp/trainer.py", "                if out is not None:\n                    return out\n            return self._predict_converted(x)", "                if out is not None:\n                    return out * 2\n            return self._predict_converted(x)", "tests/test_models.py -k training_and_mask"),
 "team-own-copy-stale": ("fastmlp/_kernels/network.pyx", "    if team.splits and n > 0:\n        memcpy(own + lo, params + lo, n * sizeof(floating))", "    if False:\n        memcpy(own + lo, params + lo, n * sizeof(floating))", "tests/test_team.py"),
 "pass-cap-ignored": ("fastmlp/_kernels/network.pyx", "        return min(chunk, max(PASS_MIN_ROWS, PASS_ELEMENTS // self.plan.max_hidden))", "        return chunk", "tests/test_small_gemm.py -k passes"),
 "gil-hint-not-recorded": ("fastmlp/_kernels/network.pyx", "                fm_gil_hint_wait()\n            fm_gil_hint_taken()", "                fm_gil_hint_wait()\n            pass", "tests/test_small_gemm.py -k spins"),
 "gil-hint-never-cleared": ("csrc/gil_hint.h", "    __atomic_store_n(&fm_gil_taken, 0, __ATOMIC_RELAXED);", "    (void)0;", "tests/test_small_gemm.py -k spins"),
 "gil-hint-spins-unbounded": ("csrc/gil_hint.h", "    return recorded != 0 && now - taken < FM_GIL_HINT_TICKS;", "    return recorded != 0 && now - taken < 50 * FM_GIL_HINT_TICKS;", "tests/test_small_gemm.py -k spins"),
 "published-row-dims-unchecked": ("fastmlp/_kernels/network.pyx", "            if dims[1 + i] != self._row_dims[i]:\n                return None", "            if False:\n                return None", "tests/test_small_gemm.py -k published"),
 "published-order-unchecked": ("fastmlp/_kernels/network.pyx", "                or not (cnp.PyArray_ISCARRAY_RO(x) and cnp.PyArray_ISNOTSWAPPED(x))", "                or not cnp.PyArray_ISNOTSWAPPED(x)", "tests/test_small_gemm.py -k published"),
 "settle-never-waits": ("fastmlp/bench/load.py", "        if after is not None and after - before < QUIET * WINDOW:\n            return True", "        if True:\n            return True", "tests/test_bench_cli.py -k settle"),
 "packed-panel-start-wrong": ("csrc/packed_weights.h", "j += 16 * fm_panel_vectors(vectors_all, panels, p);", "j += 16 * fm_panel_vectors(vectors_all, panels, q);", "tests/test_packed_weights.py"),
 "packed-tail-mask-full": ("csrc/packed_weights.h", "        __mmask16 last = (__mmask16)((1u << tail) - 1u);\n        const fm_tile512_fn *tiles", "        __mmask16 last = (__mmask16)0xFFFF;\n        const fm_tile512_fn *tiles", "tests/test_packed_weights.py"),
 "packed-relu-dropped": ("fastmlp/_kernels/dense.pyx", "x, n_in, packed, z, n_out, b,\n                                        relu, kept.idx", "x, n_in, packed, z, n_out, b,\n                                        0, kept.idx", "tests/test_packed_weights.py"),
 "packs-offsets-all-first": ("fastmlp/_kernels/network.pyx", "                at[l] = total\n", "                at[l] = 0\n", "tests/test_packed_weights.py"),
 "packs-kept-after-publish": ([("fastmlp/_kernels/network.pyx", "        self._published = weights\n        self._packs = None\n", "        self._published = weights\n"),
                               ("fastmlp/_kernels/network.pyx", "if packs is not None and packs[0] is params and packs[1] == level:", "if packs is not None and packs[1] == level:")], None, None, "tests/test_packed_weights.py"),
 "publish-writeable": ("fastmlp/engine.py", "        weights.flags.writeable = False\n", "", "tests/test_packed_weights.py"),
 "pack-count-ignored": ("fastmlp/_kernels/network.pyx", "self._unpacked_calls < PACK_AFTER_CALLS", "self._unpacked_calls < (1 << 60)", "tests/test_packed_weights.py"),
 "lists-miss-non-finite-512": ("csrc/kept_inputs.h", "                bad |= _mm512_cmp_ps_mask(_mm512_sub_ps(v, v), _mm512_setzero_ps(), _CMP_NEQ_UQ);", "", "tests/test_kept_inputs.py -k finite"),
 "lists-miss-non-finite-256": ("csrc/kept_inputs.h", "                bad = _mm256_add_ps(bad, _mm256_sub_ps(v, v));", "", "tests/test_kept_inputs.py -k finite"),
 "pass-without-lists-unchecked": ("fastmlp/_kernels/network.pyx", "    if finite < 0:\n        if floating is float:\n            finite = fm_all_finite_f", "    if False:\n        if floating is float:\n            finite = fm_all_finite_f", "tests/test_kept_inputs.py -k finite"),
 "predict-ignores-pass-check": ("fastmlp/_kernels/network.pyx", "            c.x_not_finite = True\n            return  # the call's output is dropped", "            pass\n            return  # the call's output is dropped", "tests/test_kept_inputs.py -k finite"),
 "predict-parts-ignore-check": ("fastmlp/_kernels/network.pyx", "                finite = finite and not ps[k].call.x_not_finite", "                pass", "tests/test_kept_inputs.py -k finite"),
 "engine-predict-ignores-check": ("fastmlp/engine.py", "        if not finite:\n            check_finite(x, \"x\")", "        if False:\n            check_finite(x, \"x\")", "tests/test_kept_inputs.py -k finite"),
 "wide-call-unchecked": ("fastmlp/_kernels/network.pyx", "    if c.check_x and mode == COLUMNS:", "    if False:", "tests/test_wide_calls.py -k non_finite"),
 "rows-share-check-ignored": ("fastmlp/_kernels/network.pyx", "    finite[0] = run and not c.x_not_finite and not (mode == ROWS and part.call.x_not_finite)", "    finite[0] = run and not c.x_not_finite", "tests/test_wide_calls.py -k non_finite"),
 "cpu-family-ignored": ("fastmlp/bench/environment.py", "core = _CORES.get((vendor, family, model)) or _CORES.get((vendor, family, None))", "core = _CORES.get((vendor, family, model))", "tests/test_bench_cli.py -k cpu_identity"),
 "cpu-last-processor": ("fastmlp/bench/environment.py", "                break  # the first processor's block is enough", "                continue", "tests/test_bench_cli.py -k cpu_identity"),
 "inference-in-one-round": ("fastmlp/bench/measure.py", "    for round_ in range(rounds):\n        with turns.turn(), meter:", "    for round_ in range(1):\n        with turns.turn(), meter:", "tests/test_bench_cli.py -k in_turn"),
 "chunk-rows-short": ("fastmlp/_kernels/network.pyx", "        p.call.rows = q.starts[i + 1] - start\n", "        p.call.rows = q.starts[i + 1] - start - (i == q.count - 1)\n", "tests/test_handoff.py tests/test_evaluate_threads.py"),
 "chunk-claimed-once": ("fastmlp/_kernels/network.pyx", "        if p.call.x_not_finite:\n            fm_team_store(&q.claimed, q.count)", "        if True:\n            fm_team_store(&q.claimed, q.count)", "tests/test_handoff.py"),
 "chunks-not-guided": ("fastmlp/_kernels/network.pyx", "(rows - start + 2 * threads - 1) // (2 * threads)", "(rows - start + threads - 1) // threads", "tests/test_handoff.py -k chunks"),
 "chunk-not-in-tiles": ("fastmlp/_kernels/network.pyx", "            size = min(max(least, (size + unit - 1) // unit * unit), most)", "            size = min(max(least, size), most)", "tests/test_handoff.py -k chunks"),
 "chunk-least-unrounded": ("fastmlp/_kernels/network.pyx", "    least = (least + unit - 1) // unit * unit\n", "\n", "tests/test_handoff.py -k chunks"),
 "eval-pass-slot-not-advanced": ("fastmlp/_kernels/network.pyx", "            sums += _sums_per_pass(plan)\n", "            pass\n", "tests/test_evaluate_threads.py"),
 "eval-activity-not-reset": ("fastmlp/_kernels/network.pyx", "        sums[0] = 0\n", "", "tests/test_evaluate_threads.py tests/test_keras_layers_golden.py tests/test_layer_steps.py"),
 "eval-penalty-dropped": ("fastmlp/_kernels/network.pyx", "    c.loss_sum = c.rows * _weight_penalty(&c.plan, params, NULL)\n", "    c.loss_sum = 0\n", "tests/test_evaluate_threads.py"),
 "eval-sums-by-chunk": ("fastmlp/_kernels/network.pyx", "p.call.pass_sums = q.sums + start // p.call.batch * q.sums_per_pass", "p.call.pass_sums = q.sums + i * q.sums_per_pass", "tests/test_evaluate_threads.py"),
 "eval-chunk-labels": ("fastmlp/_kernels/network.pyx", "p.call.labels = q.labels + start if q.labels != NULL else NULL", "p.call.labels = q.labels", "tests/test_evaluate_threads.py"),
 "eval-chunk-targets": ("fastmlp/_kernels/network.pyx", "p.call.targets = q.targets + start * q.out_row if q.targets != NULL else NULL", "p.call.targets = q.targets", "tests/test_evaluate_threads.py"),
 "eval-chunk-weights": ("fastmlp/_kernels/network.pyx", "p.call.weights = q.weights + start * q.item if q.weights != NULL else NULL", "p.call.weights = q.weights", "tests/test_evaluate_threads.py"),
 "eval-one-thread": ("fastmlp/engine.py", "        parts = self._parts(rows) if HANDOFF else 1\n", "        parts = 1\n", "tests/test_evaluate_threads.py"),
 "handoff-never-sleeps": ("csrc/handoff.h", "if (state == FM_BOX_IDLE && fm_handoff_now() - start >= FM_HANDOFF_SPIN_TICKS", "if (state == FM_BOX_IDLE && fm_handoff_now() - start < 0", "tests/test_handoff.py"),
 "handoff-no-wake": ("fastmlp/_kernels/network.pyx", "                    wakes[k].set()\n", "                    pass\n", "tests/test_handoff.py"),
 "handoff-wait-skipped": ("csrc/handoff.h", "    while (fm_team_load(&b->state) != FM_BOX_DONE)\n", "    while (0)\n", "tests/test_handoff.py"),
 "handoff-no-withdraw": ("fastmlp/_kernels/network.pyx", "if not fm_box_withdraw(&_boxes[k]):", "if True:", "tests/test_handoff.py"),
 "fork-keeps-helpers": ("fastmlp/parallel.py", "        _part_wakes.clear()\n        reset_boxes()\n", "        pass\n", "tests/test_handoff.py"),
 "wide-chunk-columns-wrong": ("fastmlp/_kernels/network.pyx", "params + s.w_off + c0, n,", "params + s.w_off, n,", "tests/test_wide_calls.py"),
 "wide-no-chunk-wait": ("csrc/handoff.h", "    while (fm_team_load(finished) < chunks)\n", "    while (0)\n", "tests/test_wide_calls.py"),
 "wide-ignores-others": ("fastmlp/_kernels/network.pyx", "if not alone or _wide_threads < 2 or not FM_HANDOFF:", "if _wide_threads < 2 or not FM_HANDOFF:", "tests/test_wide_calls.py"),
 "wide-never-wakes": ("fastmlp/_kernels/network.pyx", "if streaming and fm_box_rouse(", "if False and fm_box_rouse(", "tests/test_wide_calls.py"),
 "wide-posts-to-sleeper": ("fastmlp/_kernels/network.pyx", "cdef bint posted = fm_box_post_awake(&_boxes[0], part)", "cdef bint posted = fm_box_post(&_boxes[0], part) or True", "tests/test_wide_calls.py"),
 "fork-keeps-wide-helper": ("fastmlp/_kernels/network.pyx", "    _wide_wake = None  # started again by the next wide call\n", "", "tests/test_wide_calls.py"),
 "rows-taken-back-not-run": ("fastmlp/_kernels/network.pyx", "    if taken_back and run:\n", "    if False:\n", "tests/test_wide_calls.py"),
 "rows-second-half-offset": ("fastmlp/_kernels/network.pyx", "c.x = <const float *>c.x + half * self.plan.n_inputs", "c.x = <const float *>c.x + (half - 1) * self.plan.n_inputs", "tests/test_wide_calls.py"),
 "rows-no-wake-for-long-calls": ("fastmlp/_kernels/network.pyx", "and c.rows * self._row_macs >= WAKE_MIN_MACS:", "and False:", "tests/test_wide_calls.py"),
 "lone-end-time-not-noted": ("fastmlp/_kernels/network.pyx", "    if mode != WHOLE:\n        _wide_last = fm_handoff_now()\n", "", "tests/test_wide_calls.py"),
 "engine-syncs-wide-models-only": ("fastmlp/engine.py", "        sync_wide(config.num_threads())  # lone calls may share from the first one\n", "        if self.network.wide:\n            sync_wide(config.num_threads())\n", "tests/test_wide_calls.py -k default"),
 "wide-softmax-inside": ("fastmlp/_kernels/network.pyx", "ok = ok and s.act != FM_SOFTMAX", "ok = ok", "tests/test_wide_calls.py"),
 "units-parts-not-summed": ("fastmlp/_kernels/network.pyx", "                            z[i * n + j] += src[i * n + j]", "                            pass", "tests/test_unit_team.py"),
 "units-no-bias-in-sum": ("fastmlp/_kernels/network.pyx", "            fm_bias_act_ld_f(z + r0 * n + v0, params + s.b_off + v0 if s.b_off >= 0 else NULL,", "            fm_bias_act_ld_f(z + r0 * n + v0, NULL,", "tests/test_unit_team.py"),
 "units-no-hidden-bias-gradient": ("fastmlp/_kernels/network.pyx", "                                         grads + below.b_off + u0 if below.b_off >= 0 else NULL)", "                                         NULL)", "tests/test_unit_team.py"),
 "columns-bias-act-stride": ("csrc/elementwise.h", "        T *zr = z + i * ld;                                                                    \\", "        T *zr = z + i * cols;                                                                  \\", "tests/test_kernels.py -k columns"),
 "columns-act-backward-stride": ("csrc/elementwise.h", "        const T *restrict o = y + i * ld;                                                      \\", "        const T *restrict o = y + i * cols;                                                    \\", "tests/test_kernels.py -k columns"),
 "wide-columns-stride": ("fastmlp/_kernels/network.pyx", "            fm_bias_act_ld_f(y + c0, NULL, y + c0, rows, c1 - c0, n, s.act, <float>s.alpha)", "            fm_bias_act_ld_f(y + c0, NULL, y + c0, rows, c1 - c0, c1 - c0, s.act, <float>s.alpha)", "tests/test_wide_calls.py"),
 "units-wt-not-refreshed": ("fastmlp/_kernels/network.pyx", "                    fm_transpose_rows_f(plan.train_level, params + s.w_off, wt + s.wt_off, n_in, n,\n                                        u0, u1)", "                    pass", "tests/test_unit_team.py"),
 "units-bias-grad-not-zeroed": ("csrc/elementwise.h", "    if (db) for (ptrdiff_t j = 0; j < cols; j++) db[j] = 0;", "    if (0) for (ptrdiff_t j = 0; j < cols; j++) db[j] = 0;", "tests/test_unit_team.py tests/test_kernels.py -k \"columns or backward or unit\""),
 "units-hidden-bias-not-updated": ("fastmlp/_kernels/network.pyx", "                        (<UpdateRule>c.rule).apply_part(params, grads, team.lr, below.b_off + u0, nu)", "                        pass", "tests/test_unit_team.py"),
 "units-nonfinite-applied": ("fastmlp/_kernels/network.pyx", "                me.fault = NONFINITE_LOSS  # the step is not applied: nobody has updated yet", "                pass", "tests/test_unit_team.py -k nonfinite"),
 "units-same-units-for-all": ("fastmlp/_kernels/network.pyx", "    u0[0] = min(UNIT_BLOCK * _share_first(blocks, size, t), n)", "    u0[0] = 0", "tests/test_unit_team.py"),
 "units-never-chosen": ("fastmlp/_kernels/network.pyx", "            return units, True", "            return 1, False", "tests/test_unit_team.py -k fit"),
 "bench-ceiling-after-epochs": ("fastmlp/bench/measure.py", "                if ceiling:\n                    start = time.perf_counter()", "                if ceiling and round_ >= epochs:\n                    start = time.perf_counter()", "tests/test_bench_cli.py -k same_rounds"),
 "turns-rotation-backwards": ("fastmlp/bench/turns.py", "            k = (after + step) % count", "            k = (after - step) % count", "tests/test_bench_turns.py"),
 "turns-before-all-ready": ("fastmlp/bench/turns.py", "                if all(data[\"ready\"]) and data[\"turn\"] == self.index:", "                if data[\"turn\"] == self.index:", "tests/test_bench_turns.py"),
 "turns-training-misaligned": ("fastmlp/bench/measure.py", "    for round_ in range(max(3, epochs)):", "    for round_ in range(max(3, epochs) if engine.trains else 0):", "tests/test_bench_cli.py -k same_turns"),
 "bench-inference-one-turn-a-round": ("fastmlp/bench/measure.py", "                    min_calls=least))\n        with turns.turn(), meter:\n", "                    min_calls=least))\n        if True:\n", "tests/test_bench_cli.py -k inference_figures"),
 "bench-rounds-not-paired": ("fastmlp/bench/report.py", "    ratios = [a / b for a, b in zip(mine, theirs) if a > 0 and b > 0]", "    ratios = [a / b for a, b in zip(mine, theirs[1:] + theirs[:1]) if a > 0 and b > 0]", "tests/test_bench_cli.py -k paired"),
 "bench-paired-rate-not-inverted": ("fastmlp/bench/report.py", "        rate = (round_ratios(batch[workload, engine], batch[workload, \"fastmlp\"])", "        rate = (round_ratios(batch[workload, \"fastmlp\"], batch[workload, engine])", "tests/test_bench_cli.py -k paired"),
 "turns-failure-swallowed": ("fastmlp/bench/cli.py", "                return failed[0]", "                return 0", "tests/test_bench_turns.py"),
 "units-loss-step-not-cancelled": ("fastmlp/_kernels/network.pyx", "                (<UpdateRule>c.rule).cancel_step()\n                c.fault = fault\n                c.bad_step = step\n            return\n        if t == 0:\n            _add_members_sums(c, team, rows)\n            if s.b_off >= 0:", "                c.fault = fault\n                c.bad_step = step\n            return\n        if t == 0:\n            _add_members_sums(c, team, rows)\n            if s.b_off >= 0:", "tests/test_unit_team.py -k nonfinite"),
 "units-loss-share-mean": ("fastmlp/_kernels/network.pyx", "                                    plan.epsilon, d + r0 * n, wb + r0 if wb != NULL else NULL,\n                                    rows)", "                                    plan.epsilon, d + r0 * n, wb + r0 if wb != NULL else NULL,\n                                    r1 - r0)", "tests/test_unit_team.py"),
 "units-loss-first-member-only": ("fastmlp/_kernels/network.pyx", "    for k in range(team.size):\n        c.loss_sum += team.members[k].loss", "    for k in range(1):\n        c.loss_sum += team.members[k].loss", "tests/test_unit_team.py -k one_thread"),
 "units-loss-helper-fault-ignored": ("fastmlp/_kernels/network.pyx", "            else:\n                me.fault = NONFINITE_LOSS  # the step is not applied: nobody has updated yet\n        fm_team_barrier_wait(&team.barrier)", "            elif t == 0:\n                me.fault = NONFINITE_LOSS  # the step is not applied: nobody has updated yet\n        fm_team_barrier_wait(&team.barrier)", "tests/test_unit_team.py -k nonfinite"),
 "loss-part-normalises-by-rows": ("csrc/elementwise.h", "    T inv_rows = (T)1 / (T)batch, inv_n = (T)1 / ((T)batch * (T)cols);", "    T inv_rows = (T)1 / (T)rows, inv_n = (T)1 / ((T)rows * (T)cols);", "tests/test_unit_team.py"),
 "units-choice-rows-bound": ("fastmlp/_kernels/network.pyx", "(size == 1 or batch // size < self._units_below_rows", "(size == 1 or batch // size <= self._units_below_rows", "tests/test_unit_team.py -k team_for"),
 "units-choice-cache-ignored": ("fastmlp/_kernels/network.pyx", "                          or self.trainable * 8 > self._cache_bytes):", "                          or False):", "tests/test_unit_team.py -k team_for"),
 "units-choice-not-run": ("fastmlp/_kernels/network.pyx", "            size, units = (self._team_for(threads, batch, rule) if helpers", "            size, units = (self._team_for(threads, batch, None) if helpers", "tests/test_unit_team.py -k team_for"),
 "cpu-cache-any-type": ("fastmlp/_kernels/cpu_cache.py", "                    and (index / \"type\").read_text().strip() in (\"Data\", \"Unified\")):", "                    and True):", "tests/test_cpu_cache.py"),
 "cpu-cache-decimal-kilo": ("fastmlp/_kernels/cpu_cache.py", "{\"K\": 1 << 10,", "{\"K\": 1000,", "tests/test_cpu_cache.py"),
 "units-gather-by-position": ("fastmlp/_kernels/network.pyx", "finite = fm_gather_row(level, x_batch + i * n_in + u0, x + src * n_in + u0,", "finite = fm_gather_row(level, x_batch + i * n_in + u0, x + (start + i) * n_in + u0,", "tests/test_unit_team.py"),
 "copy-by-position": ("fastmlp/_kernels/network.pyx", "                memcpy(x_batch + i * n_in + u0, x + src * n_in + u0,", "                memcpy(x_batch + i * n_in + u0, x + (start + i) * n_in + u0,", "tests/test_engine_steps.py tests/test_unit_team.py"),
 "prefetch-window-ignored": ("csrc/prefetch.h", "        const char *start = pf->base + r * pf->row_bytes + pf->offset;", "        const char *start = pf->base + r * pf->row_bytes;", "tests/test_prefetch.py"),
 "units-dropout-mask-offset": ("csrc/dropout.h", "            uint32_t h = fm_mix32(row_key ^ ((uint32_t)j * 0x85ebca77u));", "            uint32_t h = fm_mix32(row_key ^ ((uint32_t)(j - j0) * 0x85ebca77u));", "tests/test_unit_team.py -k dropout"),
 "units-dropout-backward-skipped": ("fastmlp/_kernels/network.pyx", "                        _dropout[float](&plan.steps[k], dx, dx, rows, c.seed, step, 0, u0, u1)", "                        pass", "tests/test_unit_team.py -k dropout"),
 "units-dropout-parity-by-step": ("fastmlp/_kernels/network.pyx", "            part = <float *>me.parts + (di % 2) * part_size", "            part = <float *>me.parts + (l % 2) * part_size", "tests/test_unit_team.py -k dropout"),
 "transpose-8x8-pairs-mixed": ("csrc/transpose.h", "__m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1", "__m256 s0 = _mm256_shuffle_ps(t0, t2, 0x4E), s1", "tests/test_transpose.py"),
 "transpose-8x8-halves-swapped": ("csrc/transpose.h", "_mm256_storeu_ps(wt, _mm256_permute2f128_ps(s0, s4, 0x20));", "_mm256_storeu_ps(wt, _mm256_permute2f128_ps(s0, s4, 0x31));", "tests/test_transpose.py"),
 "transpose-column-tail-short": ("csrc/transpose.h", "            for (ptrdiff_t i = ib; i < ib + 8; i++)", "            for (ptrdiff_t i = ib; i < ib + 7; i++)", "tests/test_transpose.py"),
 "finite-sign-not-masked": ("csrc/elementwise.h", "            bits &= ABS;                                                                          \\\n            lane_max[k]", "                                                                                                  \\\n            lane_max[k]", "tests/test_kernels.py -k finite"),
 "finite-tail-unchecked": ("csrc/elementwise.h", "    for (; i < n; i++) {                                                                          \\\n        U bits;", "    for (; i < 0; i++) {                                                                          \\\n        U bits;", "tests/test_kernels.py -k finite"),
 "finite-lanes-not-reduced": ("csrc/elementwise.h", "most = most > lane_max[k] ? most : lane_max[k];", "(void)lane_max[k];", "tests/test_kernels.py -k finite"),
 "finite-check-first-part-only": ("fastmlp/data.py", "flat.size, parts))", "flat.size, parts)[:1])", "tests/test_finite_check.py"),
 "gather-unchecked": ("fastmlp/_kernels/network.pyx", "        elif finite == 0 and c.check_x:", "        elif False:", "tests/test_x_checked_in_loops.py"),
 "copy-unchecked": ("fastmlp/_kernels/network.pyx", "            if not c.check_x:\n                memcpy(x_batch", "            if True:\n                memcpy(x_batch", "tests/test_x_checked_in_loops.py"),
 "rows-in-order-unchecked": ("fastmlp/_kernels/network.pyx", "            if finite < 0 and c.check_x and not _row_finite(", "            if False and not _row_finite(", "tests/test_x_checked_in_loops.py"),
 "in-order-check-ignores-u0": ("fastmlp/_kernels/network.pyx", "_row_finite(xb[0] + i * n_in + u0, u1 - u0)", "_row_finite(xb[0] + i * n_in, u1 - u0)", "tests/test_x_checked_in_loops.py"),
 "copy-finite-no-store": ("csrc/elementwise.h", "#define FM_FINITE_STORE(i, bits) memcpy(dst + (i), &(bits), sizeof(bits))", "#define FM_FINITE_STORE(i, bits) ((void)0)", "tests/test_x_checked_in_loops.py -k clean"),
 "finite-inf-passes": ("csrc/elementwise.h", "    return most < INF;", "    return most <= INF;", "tests/test_x_checked_in_loops.py tests/test_finite_check.py"),
 "train-check-x-dropped": ("fastmlp/_kernels/network.pyx", "            c.check_x = check_x\n", "            c.check_x = False\n", "tests/test_x_checked_in_loops.py"),
 "fit-bad-x-weights-kept": ("fastmlp/trainer.py", "                engine.restore(published)\n", "", "tests/test_x_checked_in_loops.py -k fit"),
 "fit-bad-x-rng-kept": ("fastmlp/trainer.py", "                rng.bit_generator.state = rng_state\n", "", "tests/test_x_checked_in_loops.py -k fit"),
 "fit-bad-x-history-kept": ("fastmlp/trainer.py", "published, rule_state, rng_state, self.history = start", "published, rule_state, rng_state, _ = start", "tests/test_x_checked_in_loops.py -k fit"),
 "fit-bad-x-slots-kept": ("fastmlp/trainer.py", "                rule.set_state(*rule_state)\n", "", "tests/test_x_checked_in_loops.py -k fit"),
 "fit-split-part-unchecked": ("fastmlp/trainer.py", "            if x_in_steps:\n                _data.check_finite(val[0]", "            if False:\n                _data.check_finite(val[0]", "tests/test_x_checked_in_loops.py -k validation"),
 "check-finite-first-row-ignored": ("fastmlp/data.py", "        bad[0] += first_row\n", "", "tests/test_x_checked_in_loops.py -k validation"),
 "fit-checks-x-before-always": ("fastmlp/trainer.py", "        x_in_steps = initial_epoch < epochs and not any(", "        x_in_steps = False and not any(", "tests/test_x_checked_in_loops.py -k plain"),
 "fit-ignores-batch-hooks-for-x": ("fastmlp/trainer.py", "        x_in_steps = initial_epoch < epochs and not any(wants_batch_hooks(cb) for cb in callbacks or [])", "        x_in_steps = initial_epoch < epochs", "tests/test_x_checked_in_loops.py -k callback"),
 "fit-no-epoch-x-unchecked": ("fastmlp/trainer.py", "        x_in_steps = initial_epoch < epochs and not any(", "        x_in_steps = True and not any(", "tests/test_x_checked_in_loops.py -k callback"),
 "fit-steps-not-told-to-check": ("fastmlp/trainer.py", "check_x=start is not None and epoch == initial_epoch)", "check_x=False)", "tests/test_x_checked_in_loops.py -k fit"),
 "evaluate-pass-check-ignored": ("fastmlp/_kernels/network.pyx", "            c.x_not_finite = True\n            return  # the call's sums are dropped: its caller reports x", "            pass", "tests/test_x_checked_in_loops.py -k evaluat"),
 "evaluate-parts-check-ignored": ("fastmlp/_kernels/network.pyx", "                if ps[k].call.x_not_finite:\n                    c.x_not_finite = True", "                if False:\n                    c.x_not_finite = True", "tests/test_x_checked_in_loops.py -k evaluate_finds"),
 "evaluate-check-x-dropped": ("fastmlp/_kernels/network.pyx", "        c.skip_zeros = c.x_not_finite = False\n        c.check_x = check_x\n", "        c.skip_zeros = c.x_not_finite = False\n        c.check_x = False\n", "tests/test_x_checked_in_loops.py -k evaluat"),
 "model-evaluate-unchecked": ("fastmlp/trainer.py", "batch_size, loss_name,\n                                                  metric, weights, check_x=True)", "batch_size, loss_name,\n                                                  metric, weights, check_x=False)", "tests/test_x_checked_in_loops.py -k model_evaluation"),
 "test-on-batch-unchecked": ("fastmlp/trainer.py", "loss_name, metric, weights, check_x=True)", "loss_name, metric, weights, check_x=False)", "tests/test_x_checked_in_loops.py -k model_evaluation"),
 "evaluate-error-unnamed": ("fastmlp/engine.py", "            check_finite(x, \"x\")  # raises, naming the first bad element\n            raise", "            raise", "tests/test_x_checked_in_loops.py -k evaluat"),
 "units-metrics-wrong-rows": ("fastmlp/_kernels/network.pyx", "_add_metrics(plan, me.metric_sums, y + r0 * n, lb + r0 if lb != NULL else NULL,", "_add_metrics(plan, me.metric_sums, y, lb + r0 if lb != NULL else NULL,", "tests/test_unit_team.py"),
 "team-metrics-not-added": ("fastmlp/_kernels/network.pyx", "+ plan.steps[plan.n_steps - 1].out_off * me.rows, lb, tb, me.rows)", "+ plan.steps[plan.n_steps - 1].out_off * me.rows, lb, tb, 0)", "tests/test_team.py"),
 "split-sqrt-fma-range-too-low": ("csrc/split_sqrt.h", "_mm512_cmp_ps_mask(v, _mm512_set1_ps(0x1p-100f), _CMP_GE_OQ)", "_mm512_cmp_ps_mask(v, _mm512_set1_ps(0x1p-120f), _CMP_GE_OQ)", "tests/test_split_sqrt.py -k every_float"),
 "split-sqrt-no-rounding-step": ("csrc/split_sqrt.h", "    s = _mm512_fmadd_ps(s, _mm512_fnmadd_ps(s, h, half), s);\n", "", "tests/test_split_sqrt.py -k every_float"),
 "split-sqrt-round-up-on-tie": ("csrc/split_sqrt.h", "__mmask16 go_up = _mm512_cmp_ps_mask(d, su, _CMP_GT_OQ);", "__mmask16 go_up = _mm512_cmp_ps_mask(d, su, _CMP_GE_OQ);", "tests/test_split_sqrt.py -k every_float"),
 "split-sqrt-residual-difference": ("csrc/split_sqrt.h", "__mmask16 go_up = _mm512_cmp_ps_mask(d, su, _CMP_GT_OQ);", "__mmask16 go_up = _mm512_cmp_ps_mask(_mm512_sub_ps(d, su), _mm512_setzero_ps(), _CMP_GT_OQ);", "tests/test_split_sqrt.py -k every_float"),
 "split-sqrt-lanes-unchecked": ("csrc/split_sqrt.h", "if (__builtin_expect(fm_sqrt_by_fma_lanes512(v) == 0xFFFF, 1))", "if (1)", "tests/test_split_sqrt.py -k clones_bits"),
 "split-sqrt-rounding-mode-ignored": ("csrc/split_sqrt.h", "    if (level >= 1 && (_mm_getcsr() & 0x6000u) == 0)\n        return n - n % (16 * fm_split_every(level));", "    if (level >= 1)\n        return n - n % (16 * fm_split_every(level));", "tests/test_split_sqrt.py -k rounding"),
 "split-sqrt-level-unchecked": ("fastmlp/_kernels/optim.pyx", "and 0 <= value <= fm_split_sqrt_level()):", "and 0 <= value):", "tests/test_split_sqrt.py -k split_level"),
 "adam-split-tail-dropped": ("csrc/split_sqrt.h", "    fm_adam_f(w + head, g + head, m + head, v + head, NULL, n - head, alpha, one_minus_b1,", "    fm_adam_f(w + head, g + head, m + head, v + head, NULL, 0, alpha, one_minus_b1,", "tests/test_split_sqrt.py tests/test_optimizers.py"),
 "adam-split-moment-wrong-beta": ("csrc/split_sqrt.h", "        mm = _mm512_fmadd_ps(_mm512_sub_ps(gg, mm), c1, mm);", "        mm = _mm512_fmadd_ps(_mm512_sub_ps(gg, mm), c2, mm);", "tests/test_split_sqrt.py -k clones_bits"),
 "rmsprop-split-momentum-ignored": ("csrc/split_sqrt.h", "        if (m) {", "        if (0) {", "tests/test_split_sqrt.py -k 'clones_bits and rmsprop'"),
 "rmsprop-split-tail-momentum-lost": ("csrc/split_sqrt.h", "    fm_rmsprop_f(w + head, g + head, v + head, m ? m + head : NULL, n - head, lr, rho, rest,", "    fm_rmsprop_f(w + head, g + head, v + head, NULL, n - head, lr, rho, rest,", "tests/test_split_sqrt.py -k 'clones_bits and rmsprop'"),
 "split-sqrt-default-amd-every-rule": ("csrc/split_sqrt.h", "            return rule == FM_SPLIT_ADAGRAD ? 1 : 2;", "            return 2;", "tests/test_split_sqrt.py -k measured_faster"),
 "split-sqrt-quarter-head-by-32": ("csrc/split_sqrt.h", "        return n - n % (16 * fm_split_every(level));", "        return n - n % 32;", "tests/test_split_sqrt.py -k clones_bits"),
 "adam-quarter-fma-vector-wrong-moment": ("csrc/split_sqrt.h", "            FM_ADAM_MOVE512(i + 48, m3, fm_sqrt_checked512(v3));", "            FM_ADAM_MOVE512(i + 48, m2, fm_sqrt_checked512(v3));", "tests/test_split_sqrt.py -k 'clones_bits and adam'"),
 "split-groups-quarter-last-vector-twice": ("csrc/split_sqrt.h", "            ONE(i + 48, fm_sqrt_checked512)", "            ONE(i + 32, fm_sqrt_checked512)", "tests/test_split_sqrt.py -k 'clones_bits and rmsprop'"),
 "split-groups-quarter-last-vector-dropped": ("csrc/split_sqrt.h", "            ONE(i + 48, fm_sqrt_checked512)                                                    \\\n", "", "tests/test_split_sqrt.py -k 'clones_bits and adagrad'"),
 "split-sqrt-adagrad-default-dropped": ("fastmlp/_kernels/optim.pyx", "        self._split_level = fm_split_sqrt_default(FM_SPLIT_ADAGRAD)\n", "", "tests/test_split_sqrt.py -k measured_faster"),
 "cpu-identity-zen4-by-family-only": ("fastmlp/bench/environment.py", "    (\"AuthenticAMD\", 25, 17): \"Zen 4\",", "", "tests/test_bench_cli.py -k cpu_identity"),
 "adagrad-split-eps-outside-root": ("csrc/split_sqrt.h", "_mm512_div_ps(_mm512_mul_ps(gg, lr_), root_of(_mm512_add_ps(aa, e)))", "_mm512_div_ps(_mm512_mul_ps(gg, lr_), _mm512_add_ps(root_of(aa), e))", "tests/test_split_sqrt.py -k 'clones_bits and adagrad'"),
}

def main():
    repo = Path(__file__).resolve().parents[1]
    names = sys.argv[1:] or list(M)
    unknown = set(names) - set(M)
    if unknown:
        sys.exit(f"unknown mutations {sorted(unknown)}; known: {sorted(M)}")
    work = Path(tempfile.mkdtemp(prefix="fastmlp-mutation-")) / "repo"
    data = os.environ.get("FASTMLP_DATA", str(repo.parent / "shared" / "data"))
    results = {}
    for name in names:
        spec = M[name]
        edits = spec[0] if isinstance(spec[0], list) else [(spec[0], spec[1], spec[2])]
        tests = spec[3]
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(repo, work, ignore=shutil.ignore_patterns(".git", "build"))
        stale = False
        for path, old, new in edits:
            p = work / path
            s = p.read_text()
            if s.count(old) != 1:  # the code moved on: the mutation must be rewritten
                stale = True
                break
            p.write_text(s.replace(old, new))
        if stale:
            results[name] = f"STALE | its line is not (once) in {path}"
            print(f"{name}: {results[name]}", flush=True)
            continue
        if any(path.endswith((".h", ".pyx")) for path, _, _ in edits):
            b = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "--force"], cwd=work, capture_output=True, text=True)
            if b.returncode:
                results[name] = "BUILD FAILED"
                print(name, "BUILD FAILED", b.stderr[-500:], flush=True)
                continue
        env = dict(os.environ, PYTHONPATH=str(work), FASTMLP_DATA=data)
        r = subprocess.run(f"{sys.executable} -m pytest -q -x -p no:cacheprovider {tests}", shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-200:]
        results[name] = ("CAUGHT" if r.returncode != 0 else "MISSED") + " | " + last
        print(f"{name}: {results[name]}", flush=True)
    shutil.rmtree(work.parent, ignore_errors=True)
    missed = [name for name, result in results.items() if not result.startswith("CAUGHT")]
    print(f"{len(results) - len(missed)} of {len(results)} mutations caught" + (f"; missed: {missed}" if missed else ""))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
