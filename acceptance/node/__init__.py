"""Node-side acceptance programs: run inside a Slurm job (``sbatch --qpu``) in the
site's node runtime, or from a laptop against an emulator, with the same code.

They reach QPUs only through ``qrmi`` and the environment contract of a Slurm job
(``QRMI_JOB_QPU_RESOURCES`` / ``QRMI_JOB_QPU_TYPES`` and ``<name>_…`` settings).
Imports: numpy, qiskit, qiskit-aer, pulser, qrmi — never the controller tooling.
Each program prints one line ``QPUSITE-RESULT <json>`` that the controller parses.
"""
