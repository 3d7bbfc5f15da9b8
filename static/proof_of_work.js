// The intake form's proof of work (intake/proof_of_work.py), solved while the visitor fills in
// the form, so that it costs them no waiting.
//
// Why: every testimony costs the archive's workers minutes of transcription, and anyone can
// send the form. The page carries a challenge signed for this form; this script finds a nonce
// such that SHA-256(challenge + nonce) starts with the asked number of zero bits and puts it
// into the hidden field. A form sent without it (no JavaScript) is still accepted; only its
// transcription waits longer. A small SHA-256 of our own rather than WebCrypto: crypto.subtle
// exists only on HTTPS pages, and one promise per try would be far slower. The work is done in
// short slices, so the page stays responsive while the visitor types.
(function () {
  "use strict";
  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var W = new Int32Array(64);
  var H = new Int32Array(8);

  // SHA-256 of the first `length` bytes of `buf` (which has room for the padding) into H.
  function sha256(buf, length) {
    var blocks = Math.ceil((length + 9) / 64);
    var end = blocks * 64;
    var i;
    buf[length] = 0x80;
    for (i = length + 1; i < end - 4; i++) { buf[i] = 0; }
    var bitLength = length * 8;
    buf[end - 4] = bitLength >>> 24;
    buf[end - 3] = (bitLength >>> 16) & 0xff;
    buf[end - 2] = (bitLength >>> 8) & 0xff;
    buf[end - 1] = bitLength & 0xff;
    H[0] = 0x6a09e667; H[1] = 0xbb67ae85; H[2] = 0x3c6ef372; H[3] = 0xa54ff53a;
    H[4] = 0x510e527f; H[5] = 0x9b05688c; H[6] = 0x1f83d9ab; H[7] = 0x5be0cd19;
    for (var off = 0; off < end; off += 64) {
      for (i = 0; i < 16; i++) {
        var p = off + i * 4;
        W[i] = (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
      }
      for (i = 16; i < 64; i++) {
        var w15 = W[i - 15], w2 = W[i - 2];
        var s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
        var s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (i = 0; i < 64; i++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
      H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
    }
  }

  // True if H starts with `bits` zero bits.
  function enoughZeros(bits) {
    for (var i = 0; bits > 0; i++, bits -= 32) {
      var word = H[i] >>> 0;
      if (bits >= 32) {
        if (word !== 0) { return false; }
      } else if ((word >>> (32 - bits)) !== 0) {
        return false;
      }
    }
    return true;
  }

  // Find a nonce for `challenge` (ASCII) in slices of about 20 ms; `done(nonce, tries)` at the
  // end. The nonce counts up from 0 in decimal, as intake/proof_of_work.py `solve` does.
  function solve(challenge, bits, done) {
    var prefix = challenge.length;
    var buf = new Uint8Array(Math.ceil((prefix + 16 + 9) / 64) * 64);
    for (var i = 0; i < prefix; i++) { buf[i] = challenge.charCodeAt(i) & 0x7f; }
    var nonce = 0;
    function slice() {
      var until = Date.now() + 20;
      while (Date.now() < until) {
        for (var n = 0; n < 2000; n++, nonce++) {
          var digits = String(nonce);
          for (var j = 0; j < digits.length; j++) { buf[prefix + j] = digits.charCodeAt(j); }
          sha256(buf, prefix + digits.length);
          if (enoughZeros(bits)) {
            done(String(nonce), nonce + 1);
            return;
          }
        }
      }
      setTimeout(slice, 0);
    }
    slice();
  }

  var waiting = [];
  var solved = false;
  var api = {
    solve: solve,
    // Call `callback` once this page's proof is in its hidden field (at once if it is).
    ready: function (callback) {
      if (solved) { callback(); } else { waiting.push(callback); }
    }
  };
  window.testimonyProofOfWork = api;

  var field = document.getElementById("proof-challenge");
  var nonceField = document.getElementById("proof-nonce");
  if (!field || !nonceField) {
    solved = true;
    return;
  }
  solve(field.value, parseInt(field.getAttribute("data-bits"), 10) || 0, function (nonce) {
    nonceField.value = nonce;
    solved = true;
    waiting.splice(0).forEach(function (callback) { callback(); });
  });
}());
