# GPU telemetry on this machine: the simulator answers requests while
# benchform samples this machine's GPUs with nvidia-smi. Run it once with
# the GPU idle and once under load (README: "Telemetry, energy and cost")
# to see utilisation, power and energy follow what the GPU does.

server "sim" {
  engine = "simulated"

  simulate {
    ttft         = "20ms"
    itl          = "5ms"
    max_num_seqs = 32
  }
}

scenario "gpu" {
  server     = server.sim
  max_tokens = 64

  dataset {
    kind         = "synthetic"
    input_tokens = 64
  }

  load {
    concurrency = [8]
    duration    = "12s"
  }

  telemetry {
    gpu          = "local"
    gpu_interval = "200ms"
  }
}
