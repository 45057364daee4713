# Ray head and GPU workers: the official Ray GPU image plus the CUDA torch of the lock and our
# package, so a job's entrypoint (python -m include.retrain.jobs.train ...) is the very command
# the local stack runs. Build from the repository root:
#   docker build -f docker/ray-worker.Dockerfile -t retrain-ray .
FROM rayproject/ray:2.60.0-py311-gpu

COPY --chown=ray:users constraints.txt docker/requirements-ray.txt /home/ray/retrain/
RUN pip install --no-cache-dir -r /home/ray/retrain/requirements-ray.txt -c /home/ray/retrain/constraints.txt \
    && python -c "import torch, ray; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'ray', ray.__version__)"

COPY --chown=ray:users include/ /home/ray/app/include/
WORKDIR /home/ray/app
ENV PYTHONPATH=/home/ray/app
