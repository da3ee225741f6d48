# terraform init -backend-config=../envs/dev.backend.hcl (from terraform/stack)
bucket = "my-tabml-dev-tfstate" # the bootstrap's state_bucket output
prefix = "tabml/dev"
