"""badsig: a module changed after it was signed.

BUG (a tampered signature): the file was signed with the key whose public half is
signing_key.pub beside it, then its MAX_DUTY was raised from 100 to 250 without
signing it again. Its signature names a key the kernel has and does not verify,
so Linux refuses it even with sig_enforce=0 (kernel/module/signing.c
module_sig_check: -EKEYREJECTED is fatal "even if signatures aren't required").
Expected: `insmod badsig` is -EKEYREJECTED under badsig.kfz's keyring, nothing loads.
No finding kind of the spec fits a load the kernel refuses, so
tests/test_kernel_signing.py checks it instead of tests/planted.py.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "fan duty-cycle limit"

MAX_DUTY = 250


@module_init
def badsig_init():
    pr_info(f"duty cycle limit {MAX_DUTY}")
    return 0


@module_exit
def badsig_exit():
    pass
# ~Module signature appended~ key=834a6a1aa03dd22b sig=hMpI2tYPBbFuv31Zh4PkZeOB7nAGMQdlMTtkGSQbHMxI20qb4HzacXsYMFR4mKYYjQ2rmOArlVJ3AAIED6qFBg==
