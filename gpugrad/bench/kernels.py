"""placeholder"""
def run_kernels_cli(args, out, write_outputs, BenchError):
    raise BenchError("not yet")
