"""Code that runs inside the sandbox, in the student's kernel or in its template process.

Everything here is executed by a sandboxed Python that also runs student code, so it
imports nothing of the grader outside this package:

- :mod:`.kernel` starts one sandboxed kernel: limits, drop root, ``ipykernel``;
- :mod:`.zygote` is the preloaded kernel template that forks kernels
  (its host side is :mod:`autograder.zygote`);
- :mod:`.codec` encodes values between the trusted tests and the kernel, and is the
  same module on both sides (the host imports it, the kernel receives its source);
- :mod:`.kernel_side` answers the trusted tests' requests in the kernel
  (its host side is :mod:`autograder.trusted`).
"""
