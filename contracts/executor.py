"""The one shape every executor has, as TFX's Executor.Do(input_dict, output_dict,
exec_properties) is one shape:

    run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result

`Inputs` holds the input artifacts' paths and the runtime parameters, `Outputs` the output
artifacts' paths, `Result` what the KFP wrapper records as artifact metadata (all frozen
dataclasses, defined beside each executor). The executor is plain Python: the KFP wrapper
only unpacks artifacts into Inputs/Outputs and the Result into metadata.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ExecutorResult:
    def to_dict(self) -> dict:
        return asdict(self)
