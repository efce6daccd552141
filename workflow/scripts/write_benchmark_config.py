"""Write one benchmark's study config into its directory (hpstudy.suite)."""

import yaml

from hpstudy.fileio import write_text

write_text(snakemake.output[0],
           yaml.safe_dump(snakemake.params.config, sort_keys=False))
