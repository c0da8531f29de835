FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service service
COPY workers workers
COPY config config
COPY seeds seeds
RUN pip install --no-cache-dir . && useradd --create-home recs
# Compile the numba ranking kernels into the installed package's cache, so that no container
# compiles them at start (run outside /app: the installed package, not the source tree).
RUN cd / && python -c "from service.core.similarity import compile_kernels; compile_kernels()"
USER recs
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "service:create_app()"]
