use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = server::Settings::load()?;
    server::telemetry::init(&settings.log);
    let app = server::App::build(settings).await.context("starting the server")?;
    tracing::info!("listening on http://{}", app.local_addr());
    app.run_until_stopped().await.context("serving")
}
